// The static memory plan: arena offsets for buffers with known live ranges.
#pragma once

#include "LoweringPlan.h"

namespace chainjit::compiler::jit {

// Alignment of every arena buffer (a cache line; also what AVX-512 wants).
constexpr int64_t kArenaAlignment = 64;

// An arena larger than this fits no machine; planning stops there rather
// than overflow.
constexpr int64_t kUnplaceableBytes = int64_t(1) << 62;

// Gives each buffer an offset so that buffers whose live ranges
// [first, last] overlap never share bytes (a buffer that dies at a kernel is
// not reused by that kernel's result). Greedy first fit in order of first
// use. Returns the arena size, or INT64_MAX once it passes
// kUnplaceableBytes (the offsets are then incomplete).
int64_t assignOffsets(std::vector<Buffer> &buffers);

// The measured peak of the liveness plan: the most bytes that buffers live
// at the same kernel position hold (assignOffsets' arena is at least this;
// more only by alignment and fragmentation). With `counted`, only the
// buffers it marks (e.g. those holding forward values that a gradient keeps
// for its backward part, RecomputedGradient.h).
int64_t peakLiveBytes(const std::vector<Buffer> &buffers,
                      const std::vector<bool> *counted = nullptr);

} // namespace chainjit::compiler::jit
