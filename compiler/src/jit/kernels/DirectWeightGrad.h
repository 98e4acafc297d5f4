// Internal to Conv.cpp: conv2d_weight_grad (the gradient of a convolution in
// its weight) as a direct kernel, for the layers with few channels where
// im2col + one GEMM per image runs far below the machine's rate (the column
// matrix is KH*KW times the image, and the products [O, L] x [L, C*KH*KW]
// are small). Which of the two runs is measured per shape (ConvChoice.h).
//
//   dW[o, c, i, j] = sum over n, oy, ox of dy[n, o, oy, ox] * x[n, c, oy*sh - ph + i*dh, ...]
//
// Per image: x is copied into a zero-bordered buffer (DirectConv.h's
// padImage, so the taps need no bounds tests) and dy into rows padded with
// zeros to whole vectors (so the lanes past OW add nothing). For each block
// of kBlockO output channels and each tap (c, i, j), kBlockO vector sums run
// in registers over every window row: one vector load of the image row,
// shifted by the tap, and kBlockO multiply-adds with the dy rows. The sums
// stay vectors in the slot's accumulator across its images and are added
// across lanes once, at the end, by halves (laneSums).
//
// The images are split into slots, each with its own buffers and
// accumulator; the slots' sums are added in slot order, so the result does
// not depend on how many threads ran them. The vector width is chosen at
// run time (AVX-512, AVX2 + FMA, or the baseline), as in DirectConv.h.
#pragma once

#include "DirectConv.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace chainjit::compiler::jit::kernels::wgrad {

using direct::kBlockO;
using direct::kMaxLanes;
using direct::Padded;
using direct::paddedExtent;
using direct::paddedOut;

// dy's rows padded to whole vectors of the widest width.
inline int64_t paddedRow(int64_t ow, int64_t lanes) { return (ow + lanes - 1) / lanes * lanes; }

// One slot's scratch: the accumulator [O/kBlockO][C*KH*KW][kBlockO][lanes],
// the padded image, the padded dy [paddedOut(O)][OH][row], and its sums
// [O][C*KH*KW], each region a whole number of 64-byte lines, so that on the
// arena's 64-byte alignment the accumulator and dy's rows are vector-aligned
// (loads that cross a cache line cost the kernel about a third of its speed).
struct SlotLayout { // element counts of the four regions, in this order
  int64_t accumulator, image, dy, sums;
  int64_t sumsAt() const { return accumulator + image + dy; }
  int64_t total() const { return sumsAt() + sums; }
};
template <typename T> SlotLayout slotLayout(const Window &g, int64_t outChannels) {
  const int64_t taps = g.c * g.kh * g.kw;
  const Padded p = paddedExtent<T>(g);
  auto lines = [](int64_t elements) { return paddedRow(elements, kMaxLanes<T>); };
  return {paddedOut(outChannels) * taps * kMaxLanes<T>, lines(g.c * p.rows * p.cols),
          paddedOut(outChannels) * g.oh * paddedRow(g.ow, kMaxLanes<T>), lines(outChannels * taps)};
}

// Slots: enough that threads share the images evenly after forItems has
// timed the first slot alone (ParallelItems.h), at most one per image.
inline int64_t slotsFor(const Window &g) {
  return std::clamp<int64_t>(direct::minSlots(), 1, std::min(g.n, direct::kMaxSlots));
}

template <typename T> int64_t scratchElements(const Window &g, int64_t outChannels, int64_t slots) {
  return slots * slotLayout<T>(g, outChannels).total();
}

// Adds image `buf` / `dy` (padded) into the accumulator, V lanes per vector.
// (Grouping several taps per dy load, to save loads, measured no faster on
// AVX-512: the loop is not load-bound.)
template <typename T, int V, bool unit>
[[gnu::always_inline]] inline void accumulateImage(const T *buf, const T *dy, const Window &g,
                                                   const Padded &p, int64_t outChannels,
                                                   T *accumulator) {
  typedef T Vec __attribute__((vector_size(V * sizeof(T))));
  const int64_t taps = g.c * g.kh * g.kw, blocks = paddedOut(outChannels) / kBlockO;
  const int64_t row = paddedRow(g.ow, kMaxLanes<T>), used = paddedRow(g.ow, V);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t tap = (c * g.kh + i) * g.kw + j;
          T *sums = accumulator + (b * taps + tap) * kBlockO * kMaxLanes<T>;
          Vec acc[kBlockO];
          for (int q = 0; q < kBlockO; ++q)
            std::memcpy(&acc[q], sums + q * kMaxLanes<T>, sizeof(Vec));
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const T *xs = buf + (c * p.rows + oy * g.sh + i * g.dh) * p.cols + j * g.dw;
            const T *ds = dy + (b * kBlockO * g.oh + oy) * row;
            for (int64_t ox0 = 0; ox0 < used; ox0 += V) {
              Vec xv;
              if constexpr (unit) {
                std::memcpy(&xv, xs + ox0, sizeof(Vec));
              } else {
                for (int l = 0; l < V; ++l)
                  xv[l] = xs[(ox0 + l) * g.sw];
              }
              for (int q = 0; q < kBlockO; ++q) {
                Vec dv;
                std::memcpy(&dv, ds + q * g.oh * row + ox0, sizeof(Vec));
                acc[q] += dv * xv;
              }
            }
          }
          for (int q = 0; q < kBlockO; ++q)
            std::memcpy(sums + q * kMaxLanes<T>, &acc[q], sizeof(Vec));
        }
}

// The sum of the first V lanes of each of kBlockO accumulator vectors
// (kMaxLanes<T> apart), by halves: lane l + w is added to lane l for w =
// V/2, V/4, ..., 1. A sum lane by lane in order is a chain of V dependent
// additions, and the Fashion CNN's second layer has 1152 of them per slot:
// that way they took 21 us a slot, nearly three times the 7.7 us of an
// image's multiply-adds; by halves the kBlockO sums are independent vector
// additions.
template <typename T, int V> [[gnu::always_inline]] inline void laneSums(const T *lanes, T *out) {
  T a[kBlockO][V];
  for (int q = 0; q < kBlockO; ++q)
    std::memcpy(a[q], lanes + q * kMaxLanes<T>, sizeof(a[q]));
  for (int w = V / 2; w >= 1; w /= 2)
    for (int q = 0; q < kBlockO; ++q)
      for (int l = 0; l < w; ++l)
        a[q][l] += a[q][l + w];
  for (int q = 0; q < kBlockO; ++q)
    out[q] = a[q][0];
}

// The images [0, g.n) of x and dy into the slot's accumulator and then its
// sums, V lanes per vector.
template <typename T, int V>
[[gnu::always_inline]] inline void slotImages(const T *x, const T *dy, const Window &g,
                                              int64_t outChannels, T *slot) {
  const SlotLayout l = slotLayout<T>(g, outChannels);
  const Padded p = paddedExtent<T>(g);
  const int64_t taps = g.c * g.kh * g.kw, row = paddedRow(g.ow, kMaxLanes<T>);
  T *accumulator = slot, *buf = slot + l.accumulator, *dyb = buf + l.image,
    *sums = slot + l.sumsAt();
  std::fill(accumulator, accumulator + l.accumulator, T(0));
  std::fill(dyb, dyb + l.dy, T(0)); // the lanes past OW and the rows past O stay zero
  for (int64_t n = 0; n < g.n; ++n) {
    direct::padImage(x + n * g.c * g.h * g.w, g, p, buf);
    const T *dn = dy + n * outChannels * g.oh * g.ow;
    for (int64_t r = 0; r < outChannels * g.oh; ++r)
      std::copy(dn + r * g.ow, dn + (r + 1) * g.ow, dyb + r * row);
    if (g.sw == 1)
      accumulateImage<T, V, true>(buf, dyb, g, p, outChannels, accumulator);
    else
      accumulateImage<T, V, false>(buf, dyb, g, p, outChannels, accumulator);
  }
  for (int64_t b = 0; b < paddedOut(outChannels) / kBlockO; ++b)
    for (int64_t t = 0; t < taps; ++t) {
      T blockSums[kBlockO];
      laneSums<T, V>(accumulator + (b * taps + t) * kBlockO * kMaxLanes<T>, blockSums);
      for (int64_t q = 0; q < kBlockO && b * kBlockO + q < outChannels; ++q)
        sums[(b * kBlockO + q) * taps + t] = blockSums[q];
    }
}

#if defined(__x86_64__)
template <typename T>
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) void
slotAvx512(const T *x, const T *dy, const Window &g, int64_t o, T *slot) {
  slotImages<T, int(64 / sizeof(T))>(x, dy, g, o, slot);
}
template <typename T>
__attribute__((target("avx2,fma"))) void slotAvx2(const T *x, const T *dy, const Window &g,
                                                  int64_t o, T *slot) {
  slotImages<T, int(32 / sizeof(T))>(x, dy, g, o, slot);
}
#endif

template <typename T>
void slotOnThisCpu(const T *x, const T *dy, const Window &g, int64_t outChannels, T *slot) {
#if defined(__x86_64__)
  switch (simdLevel()) {
  case 2:
    return slotAvx512(x, dy, g, outChannels, slot);
  case 1:
    return slotAvx2(x, dy, g, outChannels, slot);
  default:
    break;
  }
#endif
  slotImages<T, int(16 / sizeof(T))>(x, dy, g, outChannels, slot); // SSE2 / NEON width
}

// dw [O, C, KH, KW] = conv2d_weight_grad(x [N, C, H, W], dy [N, O, OH, OW]);
// scratch of scratchElements<T>(g, outChannels, slots). Each slot sums its
// images (direct::forSlots); then the slots' sums are added.
template <typename T>
void weightGrad(const T *x, const T *dy, const Window &g, int64_t outChannels, int64_t slots,
                T *scratch, T *dw) {
  const SlotLayout l = slotLayout<T>(g, outChannels);
  const int64_t taps = g.c * g.kh * g.kw, perSlot = l.total();
  slots = direct::forSlots(g, slots, [&](int64_t s, int64_t n0, const Window &part) {
    slotOnThisCpu(x + n0 * g.c * g.h * g.w, dy + n0 * outChannels * g.oh * g.ow, part, outChannels,
                  scratch + s * perSlot);
  });
  std::fill(dw, dw + outChannels * taps, T(0));
  for (int64_t s = 0; s < slots; ++s) // in slot order: the same bits on any thread count
    for (int64_t e = 0; e < outChannels * taps; ++e)
      dw[e] += scratch[s * perSlot + l.sumsAt() + e];
}

} // namespace chainjit::compiler::jit::kernels::wgrad
