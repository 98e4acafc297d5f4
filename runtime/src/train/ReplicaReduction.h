// What the trainer exchanges between ranks in a data-parallel run
// (docs/distributed.md): weighted sums of gradients and batch statistics,
// packed into one buffer per element type so that a step sends few large
// messages, the sharded objective of the optimizers that evaluate the loss
// themselves, and a hash that shows whether the ranks still hold the same
// params.
#pragma once

#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/distributed/Communicator.h"
#include "chainjit/runtime/train/Objective.h"

#include <cstdint>
#include <span>
#include <vector>

namespace chainjit::runtime::train {

// Every rank's tensors become sum over ranks of weight_r * tensor_r (f32
// and f64 tensors, in one allreduce per element type); `scalars` are summed
// as they are (not weighted), in the f64 message.
void allreduceWeighted(distributed::Communicator &comm, const std::vector<ir::Tensor *> &tensors,
                       double weight, std::span<double> scalars = {});

// The objective of a global batch whose rows are spread over the ranks:
// this rank's objective `local` (a mean over its rows; null when its shard
// is empty) weighted by its share of the rows, summed over ranks. Every
// call is a collective: all ranks must make the same calls, which they do
// because they see the same reduced values and take the same decisions
// (line searches, Newton's damping). hessian() reduces the whole matrix in
// one message before the solve.
class ShardedObjective final : public Objective {
public:
  ShardedObjective(Objective *local, double weight, distributed::Communicator &comm)
      : local_(local), weight_(weight), comm_(comm) {}
  double value(const ParamSet &x) override;
  double gradient(const ParamSet &x, ParamSet &g) override;
  void hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) override;
  std::vector<double> hessian(const ParamSet &x) override;

private:
  Objective *local_;
  double weight_;
  distributed::Communicator &comm_;
};

// FNV-1a over every name and the bytes of its tensor.
uint64_t paramsHash(const Bindings &params);

// Throws chainjit::Error naming every rank whose hash differs from rank 0's
// (a collective: every rank calls it).
void checkReplicas(distributed::Communicator &comm, const Bindings &params, int64_t epoch);

// The update the step graph makes with InGraphUpdate::Gradient or Momentum
// (ModelGraphs.cpp), applied to `param` in its own dtype from a gradient
// reduced over ranks: v := mu v + g (when `velocity`), u := w - lr v, then
// soft thresholding by lr * l1.
void applyGraphUpdate(ir::Tensor &param, const ir::Tensor &grad, ir::Tensor *velocity,
                      double lr, double mu, double l1);

} // namespace chainjit::runtime::train
