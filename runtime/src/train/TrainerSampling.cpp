// Batch selection for the four sampling modes of the lecture notes: full
// batch, random minibatches, SGD with one sample, and shuffled epochs.
#include "chainjit/runtime/train/Sampling.h"

#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Dataset.h"

#include <numeric>
#include <string>
#include <unordered_set>

namespace chainjit::runtime::train {

namespace {

// Distinct streams of the counter generator for the random modes, so that a
// minibatch draw never repeats an epoch's shuffle for the same seed.
constexpr uint64_t kMinibatchStream = 0x6d696e6962617463ULL;
constexpr uint64_t kEpochStream = 0x65706f6368737472ULL;

// Uniform in [0, bound) from 64 random bits (the modulo bias is below 2^-40
// for any data set that fits in memory).
int64_t uniformBelow(uint64_t bits, int64_t bound) {
  return static_cast<int64_t>(bits % static_cast<uint64_t>(bound));
}

} // namespace

Sampling parseSampling(std::string_view name) {
  if (name == "full") return Sampling::Full;
  if (name == "minibatch") return Sampling::Minibatch;
  if (name == "sgd") return Sampling::Sgd;
  if (name == "epoch") return Sampling::Epoch;
  throw Error("unknown sampling '" + std::string(name) +
              "' (known: full, minibatch, sgd, epoch)");
}

std::string_view samplingName(Sampling s) {
  switch (s) {
  case Sampling::Full: return "full";
  case Sampling::Minibatch: return "minibatch";
  case Sampling::Sgd: return "sgd";
  case Sampling::Epoch: return "epoch";
  }
  return "?";
}

int64_t stepsPerEpoch(Sampling s, int64_t n, int64_t batch) {
  switch (s) {
  case Sampling::Full: return 1;
  case Sampling::Sgd: return n;
  case Sampling::Minibatch:
  case Sampling::Epoch: return (n + batch - 1) / batch;
  }
  return 1;
}

BatchSampler::BatchSampler(Sampling s, int64_t n, int64_t batch, uint64_t seed)
    : sampling_(s), n_(n), batch_(batch), seed_(seed) {
  if (n < 1)
    throw Error("cannot train on an empty data set");
  bool usesBatch = s == Sampling::Minibatch || s == Sampling::Epoch;
  if (usesBatch && (batch < 1 || batch > n))
    throw Error("batch size " + std::to_string(batch) + " must lie in 1.." +
                std::to_string(n) + " (the number of training samples)");
}

int64_t BatchSampler::stepsPerEpoch() const {
  return train::stepsPerEpoch(sampling_, n_, batch_);
}

std::vector<int64_t> BatchSampler::indices(int64_t epoch, int64_t step) {
  std::vector<int64_t> out;
  indices(epoch, step, out);
  return out;
}

void BatchSampler::indices(int64_t epoch, int64_t step, std::vector<int64_t> &out) {
  uint64_t counter = static_cast<uint64_t>(epoch * stepsPerEpoch() + step);
  switch (sampling_) {
  case Sampling::Full:
    out.resize(static_cast<size_t>(n_));
    std::iota(out.begin(), out.end(), int64_t{0});
    return;
  case Sampling::Sgd:
    out.assign(1, uniformBelow(ir::counterRandomBits(seed_ ^ kMinibatchStream, counter, 0), n_));
    return;
  case Sampling::Minibatch: {
    // Floyd's algorithm: `batch` distinct indices, each subset equally likely.
    out.clear();
    std::unordered_set<int64_t> taken;
    for (int64_t j = n_ - batch_; j < n_; ++j) {
      uint64_t bits = ir::counterRandomBits(seed_ ^ kMinibatchStream, counter,
                                            static_cast<uint64_t>(j));
      int64_t t = uniformBelow(bits, j + 1);
      int64_t pick = taken.count(t) ? j : t;
      taken.insert(pick);
      out.push_back(pick);
    }
    return;
  }
  case Sampling::Epoch: {
    if (cachedEpoch_ != epoch) {
      order_ = shuffledIndices(n_, ir::mix64(seed_ ^ kEpochStream) + static_cast<uint64_t>(epoch));
      cachedEpoch_ = epoch;
    }
    int64_t begin = step * batch_, end = std::min(n_, begin + batch_);
    out.assign(order_.begin() + begin, order_.begin() + end);
    return;
  }
  }
  out.clear();
}

} // namespace chainjit::runtime::train
