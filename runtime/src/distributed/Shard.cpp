#include "chainjit/runtime/distributed/Shard.h"

#include <algorithm>

namespace chainjit::runtime::distributed {

Shard shardOf(int64_t total, int rank, int ranks) {
  int64_t base = total / ranks, extra = total % ranks;
  int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

double shardWeight(const Shard &s, int64_t total) {
  return total > 0 ? static_cast<double>(s.rows()) / static_cast<double>(total) : 0.0;
}

std::vector<int64_t> shardRows(const std::vector<int64_t> &batch, int rank, int ranks) {
  Shard s = shardOf(static_cast<int64_t>(batch.size()), rank, ranks);
  return {batch.begin() + s.begin, batch.begin() + s.end};
}

} // namespace chainjit::runtime::distributed
