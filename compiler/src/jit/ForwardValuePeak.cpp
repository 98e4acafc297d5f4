// The forward-value part of a gradient's arena (RecomputedGradient.h), from
// the same lowering plan the JIT compiles.
#include "ForwardValueBuffers.h"
#include "LoweringPlan.h"
#include "MemoryPlan.h"
#include "chainjit/compiler/RecomputedGradient.h"

namespace chainjit::compiler {

int64_t jitForwardValuePeak(const ir::Graph &emitted, size_t primalSize) {
  JitOptions o;
  jit::LoweringPlan plan = jit::planLowering(emitted, o);
  std::vector<bool> counted = jit::forwardValueBuffers(plan, emitted, primalSize);
  return jit::peakLiveBytes(plan.buffers, &counted);
}

DerivativeArena jitDerivativeArena(const ir::Graph &emitted, size_t primalSize) {
  JitOptions o;
  jit::LoweringPlan plan = jit::planLowering(emitted, o);
  auto forward = [&](ir::NodeId id) { return jit::isForwardValue(emitted, id, primalSize); };
  std::vector<bool> counted = jit::forwardValueBuffers(plan, emitted, primalSize);
  DerivativeArena a;
  a.arenaBytes = plan.arenaBytes;
  a.kernels = static_cast<int>(plan.kernels.size());
  a.backwardStart = a.kernels;
  for (int i = 0; i < a.kernels; ++i)
    if (!forward(plan.kernels[i].node)) {
      a.backwardStart = i;
      break;
    }
  // Bytes live at each position (the final copies read at position kernels).
  std::vector<int64_t> all(a.kernels + 2, 0), fwd(a.kernels + 2, 0);
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const jit::Buffer &buf = plan.buffers[b];
    all[buf.first] += buf.bytes;
    all[buf.last + 1] -= buf.bytes;
    if (counted[b]) {
      fwd[buf.first] += buf.bytes;
      fwd[buf.last + 1] -= buf.bytes;
    }
  }
  int64_t liveAll = 0, liveFwd = 0;
  for (int i = 0; i <= a.kernels; ++i) {
    liveAll += all[i];
    liveFwd += fwd[i];
    if (i >= a.backwardStart) {
      a.arena = std::max(a.arena, liveAll);
      a.forwardValues = std::max(a.forwardValues, liveFwd);
    }
    if (i == a.kernels)
      a.results = liveAll;
  }
  return a;
}

} // namespace chainjit::compiler
