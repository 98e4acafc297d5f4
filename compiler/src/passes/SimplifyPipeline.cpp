// simplify-all: fold-constants, simplify, cse and dce, repeated until the
// graph stops changing (each round can expose work for the others: a folded
// const makes an identity apply, a merged node makes where(c, x, x) appear).
#include "chainjit/compiler/Passes.h"

#include "chainjit/ir/Verifier.h"

namespace chainjit::compiler {

namespace {

// Rounds before giving up on a fixed point; each round only shrinks or
// canonicalizes, so real graphs settle in two or three.
constexpr int kMaxRounds = 8;

bool sameNode(const ir::Node &a, const ir::Node &b) {
  if (a.kind != b.kind || a.name != b.name || a.operands != b.operands ||
      a.type != b.type || !(a.attrs == b.attrs))
    return false;
  if (a.kind != ir::OpKind::Const)
    return true;
  return a.value == b.value || (a.value && b.value && *a.value == *b.value);
}

bool sameGraph(const ir::Graph &a, const ir::Graph &b) {
  if (a.size() != b.size() || a.outputs() != b.outputs() ||
      a.updates().size() != b.updates().size())
    return false;
  for (size_t i = 0; i < a.updates().size(); ++i)
    if (a.updates()[i].param != b.updates()[i].param ||
        a.updates()[i].value != b.updates()[i].value)
      return false;
  for (ir::NodeId i = 0; i < a.size(); ++i)
    if (!sameNode(a.node(i), b.node(i)))
      return false;
  return true;
}

} // namespace

ir::Graph simplifyGraph(const ir::Graph &g) {
  ir::Graph cur = eliminateDeadCode(g);
  for (int round = 0; round < kMaxRounds; ++round) {
    ir::Graph next = foldConstants(cur);
    next = simplifyAlgebra(next);
    next = eliminateCommonSubexpressions(next);
    next = eliminateDeadCode(next);
    bool done = sameGraph(cur, next);
    cur = std::move(next);
    if (done)
      break;
  }
  ir::verifyOrThrow(cur);
  return cur;
}

} // namespace chainjit::compiler
