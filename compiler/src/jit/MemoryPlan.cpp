#include "MemoryPlan.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace chainjit::compiler::jit {

static int64_t alignUp(int64_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

int64_t assignOffsets(std::vector<Buffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return buffers[a].first < buffers[b].first;
  });
  std::vector<size_t> live; // sorted by offset
  int64_t top = 0;
  for (size_t i : order) {
    Buffer &b = buffers[i];
    std::erase_if(live, [&](size_t j) { return buffers[j].last < b.first; });
    int64_t candidate = 0;
    for (size_t j : live) {
      if (candidate + b.bytes <= buffers[j].offset)
        break;
      candidate = std::max(candidate, alignUp(buffers[j].offset + buffers[j].bytes));
    }
    b.offset = candidate;
    auto pos = std::lower_bound(live.begin(), live.end(), i, [&](size_t j, size_t k) {
      return buffers[j].offset < buffers[k].offset;
    });
    live.insert(pos, i);
    top = std::max(top, alignUp(b.offset + b.bytes));
    // No machine has this much memory; stopping keeps the sums above from
    // overflowing (a verified graph's buffers are below 2^48 bytes each).
    // compileGraph rejects the saturated size.
    if (top > kUnplaceableBytes)
      return INT64_MAX;
  }
  return top;
}

} // namespace chainjit::compiler::jit
