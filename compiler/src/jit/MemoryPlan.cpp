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

int64_t peakLiveBytes(const std::vector<Buffer> &buffers, const std::vector<bool> *counted) {
  // +bytes where a buffer starts, -bytes after its last position.
  std::vector<std::pair<int, int64_t>> events;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (!counted || (i < counted->size() && (*counted)[i])) {
      events.push_back({2 * buffers[i].first, buffers[i].bytes});
      events.push_back({2 * buffers[i].last + 1, -buffers[i].bytes});
    }
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (const auto &[at, bytes] : events) {
    live += bytes;
    peak = std::max(peak, live);
  }
  return peak;
}

} // namespace chainjit::compiler::jit
