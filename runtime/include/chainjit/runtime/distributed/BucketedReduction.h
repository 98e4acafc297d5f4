// The gradient allreduce of a data-parallel step in buckets: the tensors
// (each rank's weighted gradients) are packed in order into a few large
// buffers, each summed over the ranks in place as one message, and each
// bucket's sum is started (nonblocking) as soon as it is packed, so that
// packing the next bucket, and the caller's update of a bucket that has
// arrived, overlap with the buckets still in flight. docs/distributed.md
// says what overlaps with what.
//
// The sums do not depend on the schedule: every element is the same sum
// over ranks however the tensors are bucketed and whether the buckets are
// started at once or one after the other (an MPI implementation may add 3
// or more ranks' values in another order for another message size; with 2
// ranks each element is one addition, so the bits are the same).
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/runtime/distributed/Communicator.h"

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace chainjit::runtime::distributed {

struct ReduceSchedule {
  // A bucket is closed once it holds at least this many bytes (a tensor is
  // never split, and a change of element type starts a new bucket): few
  // messages, each large enough that the α latency is small against the β
  // cost of its bytes, and several for a large model so that they overlap.
  int64_t bucketBytes = int64_t(256) << 10;
  // Start every bucket's sum before waiting for any (MPI_Iallreduce);
  // false sums each bucket before packing the next (MPI_Allreduce). Tensors
  // that fill one bucket are always summed blocking: nothing would overlap.
  bool overlap = true;
};

class BucketedReduction {
public:
  // Starts summing weight * t over the ranks for every f32/f64 tensor (in
  // place once finished) and `scalars` as they are (unweighted, in an f64
  // bucket of their own, last). The tensors and scalars must outlive this
  // object and keep their sizes; every rank passes the same layout.
  BucketedReduction(Communicator &comm, std::vector<ir::Tensor *> tensors, double weight,
                    std::span<double> scalars, const ReduceSchedule &schedule);
  ~BucketedReduction(); // waits for what is still in flight
  BucketedReduction(const BucketedReduction &) = delete;
  BucketedReduction &operator=(const BucketedReduction &) = delete;

  size_t buckets() const { return buckets_.size(); }
  bool done() const { return next_ == buckets_.size(); }
  // Waits for the next bucket in order, writes its sums into its tensors
  // (or the scalars) and returns the indices [first, last) of the tensors
  // it held (empty for the scalars' bucket).
  std::pair<size_t, size_t> finishNext();
  void finishAll();
  // Lets the buckets in flight progress without waiting (call it between
  // pieces of other work).
  void poll();

private:
  struct Bucket;
  void start(Bucket &b);

  Communicator &comm_;
  std::vector<ir::Tensor *> tensors_;
  std::span<double> scalars_;
  ReduceSchedule schedule_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  size_t next_ = 0;
};

} // namespace chainjit::runtime::distributed
