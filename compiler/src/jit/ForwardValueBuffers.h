#pragma once
// Which buffers of a gradient's lowering plan hold forward values: those of
// the primal's nodes (ids below primalSize) and of the recomputed ones
// (named recompute.N). The memory limit of a recomputed gradient bounds
// these (RecomputedGradient.h, ScanCheckpointing.h).
#include "LoweringPlan.h"

#include <vector>

namespace chainjit::compiler::jit {

inline bool isForwardValue(const ir::Graph &emitted, ir::NodeId id, size_t primalSize) {
  return id < primalSize || emitted.node(id).name.rfind("recompute.", 0) == 0;
}

inline std::vector<bool> forwardValueBuffers(const LoweringPlan &plan, const ir::Graph &emitted,
                                             size_t primalSize) {
  std::vector<bool> counted(plan.buffers.size(), false);
  for (ir::NodeId id = 0; id < emitted.size(); ++id)
    if (plan.bufferOf[id] >= 0 && isForwardValue(emitted, id, primalSize))
      counted[plan.bufferOf[id]] = true;
  return counted;
}

} // namespace chainjit::compiler::jit
