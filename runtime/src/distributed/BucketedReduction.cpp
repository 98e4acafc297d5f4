// See BucketedReduction.h.
#include "chainjit/runtime/distributed/BucketedReduction.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cstring>

namespace chainjit::runtime::distributed {

struct BucketedReduction::Bucket {
  ir::DType dtype = ir::DType::f32;
  size_t first = 0, last = 0; // tensors [first, last)
  bool scalars = false;        // the scalars' bucket (no tensors)
  std::vector<float> f32;
  std::vector<double> f64;
  std::unique_ptr<Communicator::Pending> pending;
};

namespace {

void requireFloat(const ir::Tensor &t) {
  if (t.dtype() != ir::DType::f32 && t.dtype() != ir::DType::f64)
    throw Error("data-parallel training reduces f32 and f64 tensors only, not " +
                t.type().str());
}

} // namespace

void BucketedReduction::start(Bucket &b) {
  // Blocking: the sum is done here, before the next bucket is packed.
  if (b.dtype == ir::DType::f32) {
    if (schedule_.overlap)
      b.pending = comm_.startAllreduceSum(std::span<float>(b.f32));
    else
      comm_.allreduceSum(std::span<float>(b.f32));
  } else {
    if (schedule_.overlap)
      b.pending = comm_.startAllreduceSum(std::span<double>(b.f64));
    else
      comm_.allreduceSum(std::span<double>(b.f64));
  }
}

BucketedReduction::BucketedReduction(Communicator &comm, std::vector<ir::Tensor *> tensors,
                                     double weight, std::span<double> scalars,
                                     const ReduceSchedule &schedule)
    : comm_(comm), tensors_(std::move(tensors)), scalars_(scalars), schedule_(schedule) {
  for (const ir::Tensor *t : tensors_)
    requireFloat(*t);
  uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(schedule_.bucketBytes, 1));
  // The layout first: which tensors go together.
  for (size_t i = 0; i < tensors_.size();) {
    auto b = std::make_unique<Bucket>();
    b->dtype = tensors_[i]->dtype();
    b->first = i;
    uint64_t bytes = 0;
    while (i < tensors_.size() && tensors_[i]->dtype() == b->dtype && bytes < limit)
      bytes += tensors_[i++]->byteSize();
    b->last = i;
    buckets_.push_back(std::move(b));
  }
  // With one bucket of tensors there is nothing to overlap its flight with;
  // a blocking allreduce is then faster (Open MPI's nonblocking collectives
  // progress only when polled, and yield the core while waiting when
  // oversubscribed).
  if (buckets_.size() < 2)
    schedule_.overlap = false;
  if (!scalars_.empty()) {
    auto b = std::make_unique<Bucket>();
    b->dtype = ir::DType::f64;
    b->first = b->last = tensors_.size();
    b->scalars = true;
    b->f64.assign(scalars_.begin(), scalars_.end());
    buckets_.push_back(std::move(b));
  }
  for (std::unique_ptr<Bucket> &b : buckets_) {
    // The weighted copy, rounded once to the element type, as the
    // single-message reduction always made it.
    for (size_t k = b->first; k < b->last; ++k) {
      const ir::Tensor &t = *tensors_[k];
      if (b->dtype == ir::DType::f32) {
        const float *d = t.as<float>();
        for (int64_t e = 0; e < t.numel(); ++e)
          b->f32.push_back(static_cast<float>(weight * d[e]));
      } else {
        const double *d = t.as<double>();
        for (int64_t e = 0; e < t.numel(); ++e)
          b->f64.push_back(weight * d[e]);
      }
    }
    start(*b);
    poll(); // the earlier buckets move on while the next one is packed
  }
}

BucketedReduction::~BucketedReduction() = default; // each Pending waits as it goes

void BucketedReduction::poll() {
  for (size_t b = next_; b < buckets_.size(); ++b)
    if (buckets_[b]->pending && !buckets_[b]->pending->test())
      return; // MPI progresses the others inside this call too
}

std::pair<size_t, size_t> BucketedReduction::finishNext() {
  if (done())
    throw Error("BucketedReduction: every bucket is finished already");
  Bucket &b = *buckets_[next_++];
  if (b.pending)
    b.pending->wait();
  if (b.scalars) {
    std::copy(b.f64.begin(), b.f64.end(), scalars_.begin());
    return {b.first, b.last};
  }
  size_t at = 0;
  for (size_t k = b.first; k < b.last; ++k) {
    ir::Tensor &t = *tensors_[k];
    size_t n = static_cast<size_t>(t.numel());
    if (b.dtype == ir::DType::f32)
      std::memcpy(t.as<float>(), b.f32.data() + at, sizeof(float) * n);
    else
      std::memcpy(t.as<double>(), b.f64.data() + at, sizeof(double) * n);
    at += n;
  }
  // The buffer is spent: free it now rather than with the reduction.
  std::vector<float>().swap(b.f32);
  std::vector<double>().swap(b.f64);
  return {b.first, b.last};
}

void BucketedReduction::finishAll() {
  while (!done())
    finishNext();
}

} // namespace chainjit::runtime::distributed
