// The forward-value peak of a gradient with the scans' tapes counted
// (ScanCheckpointing.h), from the lowering plan the JIT compiles: a tape
// scan's result is a buffer of the caller's plan; the tapes of a nested
// scan's adjoint live in the body plan of the kernel that runs it, whose
// arena is part of that kernel's scratch.
#include "ForwardValueBuffers.h"
#include "LoweringPlan.h"
#include "MemoryPlan.h"
#include "ScanLowering.h"
#include "chainjit/compiler/ScanCheckpointing.h"

#include <string>

namespace chainjit::compiler {

namespace {

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Marks the buffers of tape values in plan (of graph g) and returns the
// buffers with one more per scan kernel whose body holds tapes: that
// body's own tape peak, live while the kernel runs.
std::vector<jit::Buffer> tapeBuffers(const jit::LoweringPlan &plan, const ir::Graph &g,
                                     std::vector<bool> &counted) {
  std::vector<jit::Buffer> buffers = plan.buffers;
  counted.resize(buffers.size(), false);
  std::vector<bool> tape(g.size(), false);
  for (ir::NodeId id = 0; id < g.size(); ++id) {
    const ir::Node &n = g.node(id);
    if (n.kind == ir::OpKind::Scan)
      tape[id] = endsWith(n.attrs.getString("body"), "_tape");
    else if (n.kind == ir::OpKind::Slice || n.kind == ir::OpKind::Reshape)
      tape[id] = tape[n.operands[0]];
    int b = plan.bufferOf[id];
    if (tape[id] && b >= 0)
      counted[b] = true;
  }
  for (size_t p = 0; p < plan.kernels.size(); ++p) {
    const jit::Kernel &k = plan.kernels[p];
    if (k.kind != jit::KernelKind::Scan || k.body < 0)
      continue;
    const jit::ScanBody &body = *plan.bodies[k.body];
    std::vector<bool> inner;
    std::vector<jit::Buffer> bodyBuffers = tapeBuffers(body.plan, *body.graph, inner);
    int64_t peak = jit::peakLiveBytes(bodyBuffers, &inner);
    if (peak > 0) {
      buffers.push_back({peak, int(p), int(p), 0});
      counted.push_back(true);
    }
  }
  return buffers;
}

} // namespace

int64_t jitForwardValuePeakWithScanTapes(const ir::Graph &emitted, size_t primalSize) {
  JitOptions o;
  jit::LoweringPlan plan = jit::planLowering(emitted, o);
  std::vector<bool> counted = jit::forwardValueBuffers(plan, emitted, primalSize);
  std::vector<jit::Buffer> buffers = tapeBuffers(plan, emitted, counted);
  return jit::peakLiveBytes(buffers, &counted);
}

} // namespace chainjit::compiler
