// Which rows of a global batch each rank computes, and how much its
// gradient weighs. A model's loss is the mean over the rows of its batch,
// so rank r's gradient g_r is a mean over its b_r rows; the gradient of the
// whole batch of B rows is sum_r (b_r / B) g_r, which is what the ranks'
// allreduce sums after each has scaled its gradient by its weight.
#pragma once

#include <cstdint>
#include <vector>

namespace chainjit::runtime::distributed {

struct Shard {
  int64_t begin = 0, end = 0; // the rows [begin, end) of the batch
  int64_t rows() const { return end - begin; }
};

// Rank `rank` of `ranks` takes a contiguous part of `total` rows; the parts
// differ by at most one row (the first total % ranks ranks take one more)
// and are empty where total < ranks.
Shard shardOf(int64_t total, int rank, int ranks);

// b_r / B (0 for an empty batch).
double shardWeight(const Shard &s, int64_t total);

// The rows of `batch` (sample indices) that `rank` computes.
std::vector<int64_t> shardRows(const std::vector<int64_t> &batch, int rank, int ranks);

} // namespace chainjit::runtime::distributed
