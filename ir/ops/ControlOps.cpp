// Control ops: ops that run a function of their graph (Graph::functions()).
//
// scan(carries..., sequences..., invariants...) {body, carries = C,
// sequences = S, length = T, reverse}: a loop over a leading time axis. The
// body @f takes (carries..., one slice [..] of each sequence [T, ..],
// invariants...) and returns (new carries..., per-step ys...). The result is
// ONE flat vector of the carries' float dtype: the final carries, flattened,
// then each y stacked over the steps ([T, ..]) and flattened, in that order.
// One result keeps every pass (rules, memory plan, chain extraction) on
// single-result nodes; the builder's scan() (Scan.h) and the text form's
// sugar take the pieces out with slice + reshape.
#include "OpFamilies.h"

#include "chainjit/ir/Function.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Scan.h"

#include <fmt/format.h>

namespace chainjit::ir::ops {

static TensorType scanRule(std::span<const TensorType> in, const Attrs &a, const Graph &g) {
  const std::string &name = a.getString("body");
  const Function *f = g.findFunction(name);
  if (!f)
    throw Error(fmt::format("unknown body function @{} (define it with `func {}(...)` "
                            "before the graph)",
                            name, name));
  ScanLayout l = scanLayout(*f, in, a);
  return {l.dtype, {l.totalSize}};
}

std::vector<OpDef> controlOps() {
  OpDef scan{OpKind::Scan, OpFamily::Control, 0, -1,
             {"carries...", "sequences...", "invariants..."},
             {{"body", AttrKind::String, std::nullopt},
              {"carries", AttrKind::Int, int64_t{1}},
              {"sequences", AttrKind::Int, int64_t{0}},
              {"length", AttrKind::Int, int64_t{0}},
              {"reverse", AttrKind::Bool, false}},
             nullptr,
             "a loop over a leading time axis: body @f(carries, step slices, invariants) -> "
             "(carries, ys); result = final carries and stacked ys, flattened"};
  scan.inferTypeInGraph = scanRule;
  return {scan};
}

} // namespace chainjit::ir::ops
