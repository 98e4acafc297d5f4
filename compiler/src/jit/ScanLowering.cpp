// Planning a scan's body and the module-wide node numbering (ScanLowering.h).
#include "ScanLowering.h"

#include "MemoryPlan.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Function.h"

namespace chainjit::compiler::jit {

namespace {

int64_t alignUp(int64_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

void appendFlat(const ir::Graph &g, std::vector<FlatNode> &out) {
  for (ir::NodeId id = 0; id < g.size(); ++id)
    out.push_back({&g, id});
  for (ir::NodeId id = 0; id < g.size(); ++id)
    if (g.node(id).kind == ir::OpKind::Scan)
      appendFlat(scanBodyGraph(g, id), out);
}

} // namespace

const ir::Graph &scanBodyGraph(const ir::Graph &g, ir::NodeId id) {
  const ir::Node &n = g.node(id);
  const std::string &name = n.attrs.getString("body");
  const ir::Function *f = g.findFunction(name);
  if (!f)
    throw Error("jit: scan: unknown body function @" + name + " (" + n.label(id) + ")", n.loc);
  return f->body();
}

int64_t flatNodeCount(const ir::Graph &g) {
  int64_t count = static_cast<int64_t>(g.size());
  for (ir::NodeId id = 0; id < g.size(); ++id)
    if (g.node(id).kind == ir::OpKind::Scan)
      count += flatNodeCount(scanBodyGraph(g, id));
  return count;
}

std::vector<FlatNode> flatNodes(const ir::Graph &g) {
  std::vector<FlatNode> out;
  appendFlat(g, out);
  return out;
}

ScanBody planScanBody(const ir::Graph &g, ir::NodeId id, const JitOptions &options,
                      int64_t nodeBase) {
  const ir::Graph &body = scanBodyGraph(g, id);
  ScanBody b{g.node(id).attrs.getString("body"), &body, ir::scanLayout(g, id),
             planLowering(body, options, nodeBase)};
  // The body's arena first (its offsets are aligned from its own base,
  // which the scratch buffer's alignment keeps aligned), then the carries'
  // two buffers each: a step reads one and writes the other, since a
  // compiled graph's outputs must not overlap its inputs.
  if (b.plan.arenaBytes > kUnplaceableBytes)
    throw Error("jit: the scan body's arena exceeds any memory (" + g.node(id).label(id) + ")",
                g.node(id).loc);
  int64_t top = alignUp(b.plan.arenaBytes);
  b.arenaBytes = top;
  const size_t width = ir::dtypeSize(b.layout.dtype);
  for (int copy = 0; copy < 2; ++copy)
    for (const ir::TensorType &c : b.layout.carryTypes) {
      (copy == 0 ? b.carryA : b.carryB).push_back(top);
      top += alignUp(c.numel() * static_cast<int64_t>(width));
      if (top > kUnplaceableBytes)
        throw Error("jit: the scan's buffers exceed any memory (" + g.node(id).label(id) + ")",
                    g.node(id).loc);
    }
  b.scratchBytes = top;
  return b;
}

} // namespace chainjit::compiler::jit
