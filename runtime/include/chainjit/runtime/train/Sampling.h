// Which samples each training step sees. Every choice is a pure function of
// (seed, epoch, step), so a run resumed from a checkpoint draws exactly the
// batches the uninterrupted run would have drawn.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace chainjit::runtime::train {

enum class Sampling {
  Full,      // every step: all n samples (full-batch gradient descent)
  Minibatch, // every step: `batch` distinct samples drawn uniformly at random
  Sgd,       // every step: one sample drawn uniformly at random (|B| = 1)
  Epoch,     // each epoch shuffles the data and walks it batch by batch
};

// "full", "minibatch", "sgd", "epoch"; throws chainjit::Error otherwise.
Sampling parseSampling(std::string_view name);
std::string_view samplingName(Sampling s);

// Steps in one epoch over n samples: 1 (full), n (sgd), ceil(n / batch)
// (minibatch and epoch: one pass's worth of samples).
int64_t stepsPerEpoch(Sampling s, int64_t n, int64_t batch);

class BatchSampler {
public:
  // n >= 1 samples; batch in 1..n (ignored for full and sgd).
  BatchSampler(Sampling s, int64_t n, int64_t batch, uint64_t seed);

  int64_t stepsPerEpoch() const;
  // The sample indices of step `step` (0-based) of epoch `epoch` (0-based).
  // In epoch mode the last batch of an epoch holds the n mod batch samples
  // left over (when there are any), so every sample is seen once per epoch.
  std::vector<int64_t> indices(int64_t epoch, int64_t step);
  // The same, written into `out`, whose storage is reused: once it has held
  // a batch, epoch, sgd and full sampling allocate nothing per step (the
  // trainer's loop; minibatch sampling still does).
  void indices(int64_t epoch, int64_t step, std::vector<int64_t> &out);

private:
  Sampling sampling_;
  int64_t n_, batch_;
  uint64_t seed_;
  int64_t cachedEpoch_ = -1;
  std::vector<int64_t> order_; // epoch mode: the shuffled order of cachedEpoch_
};

} // namespace chainjit::runtime::train
