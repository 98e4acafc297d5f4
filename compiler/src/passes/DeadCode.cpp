#include "chainjit/compiler/Passes.h"

#include "chainjit/ir/Rebuild.h"

namespace chainjit::compiler {

ir::Graph eliminateDeadCode(const ir::Graph &g) {
  std::vector<bool> live(g.size(), false);
  for (ir::NodeId o : g.outputs())
    live[o] = true;
  for (const auto &u : g.updates())
    live[u.param] = live[u.value] = true;
  // Nodes are topologically ordered: one backward sweep marks everything live.
  for (ir::NodeId i = static_cast<ir::NodeId>(g.size()); i-- > 0;) {
    ir::OpKind k = g.node(i).kind;
    if (k == ir::OpKind::Input || k == ir::OpKind::Param)
      live[i] = true;
    if (live[i])
      for (ir::NodeId o : g.node(i).operands)
        live[o] = true;
  }
  ir::GraphRebuilder rb(g);
  for (ir::NodeId i = 0; i < g.size(); ++i)
    if (live[i])
      rb.copy(i);
  return rb.finish();
}

} // namespace chainjit::compiler
