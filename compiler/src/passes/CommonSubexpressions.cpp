// cse: common-subexpression elimination. Two nodes with the same op, the
// same operands (after merging their own operands) and the same attributes
// compute the same value, so the second one is mapped to the first; so are
// two consts of the same type with bit-identical contents. add and mul match
// with their operands in either order (both are commutative in IEEE
// arithmetic). Inputs and params are never merged (each is its own value),
// nor dropout and batch_norm (their expansion by mode adds updates per layer).
//
// Names follow replaceNode (SimplifyRewrite.h): a named node merged into an
// unnamed one gives it its name; merged into a named one, it stays as an
// alias of it, so no name is lost.
#include "chainjit/compiler/Passes.h"

#include "SimplifyRewrite.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>

namespace chainjit::compiler {

namespace {

using namespace ir;

bool isCommutative(OpKind k) { return k == OpKind::Add || k == OpKind::Mul; }

bool isMergeable(OpKind k) {
  return k != OpKind::Input && k != OpKind::Param && k != OpKind::Dropout &&
         k != OpKind::BatchNorm;
}

class CommonSubexpressions {
public:
  explicit CommonSubexpressions(const Graph &src) : rb_(src) {}

  Graph run() {
    const Graph &src = rb_.src();
    for (NodeId id = 0; id < src.size(); ++id) {
      const Node &n = src.node(id);
      if (!isMergeable(n.kind)) {
        rb_.copy(id);
        continue;
      }
      std::vector<NodeId> ops = operandKey(n);
      size_t h = hashOf(n, ops);
      std::vector<NodeId> &bucket = seen_[h];
      auto same = std::find_if(bucket.begin(), bucket.end(),
                               [&](NodeId other) { return equivalent(n, ops, other); });
      if (same != bucket.end()) {
        simplify::replaceNode(rb_, id, *same);
      } else {
        bucket.push_back(rb_.copy(id));
      }
    }
    return rb_.finish();
  }

private:
  // The mapped operands, sorted for commutative ops.
  std::vector<NodeId> operandKey(const Node &n) const {
    std::vector<NodeId> ops;
    for (NodeId o : n.operands)
      ops.push_back(rb_.map(o));
    if (isCommutative(n.kind))
      std::sort(ops.begin(), ops.end());
    return ops;
  }

  static size_t hashOf(const Node &n, const std::vector<NodeId> &ops) {
    size_t h = std::hash<int>()(static_cast<int>(n.kind));
    auto mix = [&h](size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
    for (NodeId o : ops)
      mix(std::hash<NodeId>()(o));
    if (n.kind == OpKind::Const) {
      mix(std::hash<std::string>()(n.type.str()));
      mix(std::hash<std::string_view>()(std::string_view(
          static_cast<const char *>(n.value->data()), n.value->byteSize())));
    }
    return h;
  }

  // Whether node `other` of the new graph computes what source node `n` with
  // mapped operands `ops` does. Attributes compare by value (floats by bits);
  // the result type then follows from the op's type rule.
  bool equivalent(const Node &n, const std::vector<NodeId> &ops, NodeId other) {
    const Node &o = rb_.out().node(other);
    if (o.kind != n.kind)
      return false;
    if (n.kind == OpKind::Const)
      return o.value && n.value && *o.value == *n.value;
    std::vector<NodeId> theirs = o.operands;
    if (isCommutative(n.kind))
      std::sort(theirs.begin(), theirs.end());
    return theirs == ops && o.attrs == n.attrs && o.type == n.type;
  }

  GraphRebuilder rb_;
  std::unordered_map<size_t, std::vector<NodeId>> seen_;
};

} // namespace

ir::Graph eliminateCommonSubexpressions(const ir::Graph &g) {
  return CommonSubexpressions(g).run();
}

} // namespace chainjit::compiler
