// The forward-value part of a gradient's arena (RecomputedGradient.h), from
// the same lowering plan the JIT compiles.
#include "LoweringPlan.h"
#include "MemoryPlan.h"
#include "chainjit/compiler/RecomputedGradient.h"

namespace chainjit::compiler {

int64_t jitForwardValuePeak(const ir::Graph &emitted, size_t primalSize) {
  JitOptions o;
  jit::LoweringPlan plan = jit::planLowering(emitted, o);
  std::vector<bool> counted(plan.buffers.size(), false);
  for (ir::NodeId id = 0; id < emitted.size(); ++id) {
    int b = plan.bufferOf[id];
    if (b >= 0 && (id < primalSize || emitted.node(id).name.rfind("recompute.", 0) == 0))
      counted[b] = true;
  }
  return jit::peakLiveBytes(plan.buffers, &counted);
}

} // namespace chainjit::compiler
