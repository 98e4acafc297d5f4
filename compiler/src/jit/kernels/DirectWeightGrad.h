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
// shifted by the tap, and kBlockO multiply-adds with the dy rows; on
// AVX-512 the taps of a window row go in groups of up to five by four
// channels, which share each load of dy (accumulateTaps). The sums
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

// The accumulator's vector of output channel b * kBlockO + q at tap t.
template <typename T>
inline T *accumulatorAt(T *accumulator, int64_t taps, int64_t b, int64_t t, int64_t q) {
  return accumulator + ((b * taps + t) * kBlockO + q) * kMaxLanes<T>;
}

// Adds taps (c, i, j0 .. j0 + J - 1) of image `buf` / `dy` (padded) into
// output channels b * kBlockO + q0 .. + QH - 1 of the accumulator: QH x J
// sums in registers over the window's columns (by vectors) and rows. With
// J = 1 and QH = kBlockO (accumulateRow's plain taps) each dy vector is a
// multiply-add's memory operand: nine loads to eight multiply-adds, and a
// CPU that loads one 64-byte vector a cycle runs that at about two thirds
// of its multiply-add rate (on the AVX-512 machine of docs/performance.md:
// 2.5 against 3.6 G vector multiply-adds a second). With J > 1 each dy
// vector is loaded once for the J taps, QH + J loads to QH x J
// multiply-adds; with GCC an empty asm keeps it in a register (without it
// GCC folds the load into every multiply-add again).
template <typename T, int V, bool unit, int QH, int J>
[[gnu::always_inline]] inline void accumulateTaps(const T *buf, const T *dy, const Window &g,
                                                  const Padded &p, int64_t b, int64_t q0, int64_t c,
                                                  int64_t i, int64_t j0, T *accumulator) {
  typedef T Vec __attribute__((vector_size(V * sizeof(T))));
  const int64_t taps = g.c * g.kh * g.kw, tap0 = (c * g.kh + i) * g.kw + j0;
  const int64_t row = paddedRow(g.ow, kMaxLanes<T>), used = paddedRow(g.ow, V);
  const int64_t xStep = g.sh * p.cols, dyPlane = g.oh * row;
  const T *x0 = buf + (c * p.rows + i * g.dh) * p.cols + j0 * g.dw;
  const T *d0 = dy + (b * kBlockO + q0) * dyPlane;
  Vec acc[QH][J];
  for (int q = 0; q < QH; ++q)
    for (int jj = 0; jj < J; ++jj)
      std::memcpy(&acc[q][jj], accumulatorAt(accumulator, taps, b, tap0 + jj, q0 + q), sizeof(Vec));
  for (int64_t ox0 = 0; ox0 < used; ox0 += V) {
    const T *xs = x0, *ds = d0 + ox0;
    for (int64_t oy = 0; oy < g.oh; ++oy, xs += xStep, ds += row) {
      Vec dv[QH];
      for (int q = 0; q < QH; ++q) {
        Vec d;
        std::memcpy(&d, ds + q * dyPlane, sizeof(Vec));
        // GCC only: Clang keeps the load in a register by itself (and
        // rejects a 64-byte "v" operand in a file not built for AVX-512).
#if defined(__GNUC__) && !defined(__clang__)
        if constexpr (J > 1)
          asm("" : "+v"(d));
#endif
        dv[q] = d;
      }
      for (int jj = 0; jj < J; ++jj) {
        Vec xv;
        direct::windowVector<T, V, unit>(xs + jj * g.dw, ox0, g.sw, xv);
        for (int q = 0; q < QH; ++q)
          acc[q][jj] += dv[q] * xv;
      }
    }
  }
  for (int q = 0; q < QH; ++q)
    for (int jj = 0; jj < J; ++jj)
      std::memcpy(accumulatorAt(accumulator, taps, b, tap0 + jj, q0 + q), &acc[q][jj], sizeof(Vec));
}

// Taps grouped along the window's row, on CPUs with 32 vector registers
// (AVX-512): kGroupChannels = 4 channels by up to kMaxGroup taps take 4 x 5
// sums, 4 dy vectors and a window's vector, 25 of the 32 (AVX2's 16 would
// not hold a group, and its loads are 32 bytes). A row's last tap alone
// takes all kBlockO channels at once, with fewer loads per multiply-add
// than a group of one tap by 4 channels. On one thread with the image in
// the cache (a program of its own), the Fashion CNN's layers: 5x5 taps
// 4.7 -> 3.6 us an image, 3x3 taps 7.5 -> 5.2-6.4 us.
constexpr int kGroupChannels = 4, kMaxGroup = 5;

template <typename T, int V, bool unit, bool grouped>
[[gnu::always_inline]] inline void accumulateRow(const T *buf, const T *dy, const Window &g,
                                                 const Padded &p, int64_t b, int64_t c, int64_t i,
                                                 T *accumulator) {
  int64_t j0 = 0;
#if defined(__x86_64__)
  if constexpr (grouped) {
    for (int64_t left; (left = g.kw - j0) >= 2; j0 += std::min<int64_t>(left, kMaxGroup))
      for (int64_t q0 = 0; q0 < kBlockO; q0 += kGroupChannels)
        switch (std::min<int64_t>(left, kMaxGroup)) {
        case 2:
          accumulateTaps<T, V, unit, kGroupChannels, 2>(buf, dy, g, p, b, q0, c, i, j0,
                                                        accumulator);
          break;
        case 3:
          accumulateTaps<T, V, unit, kGroupChannels, 3>(buf, dy, g, p, b, q0, c, i, j0,
                                                        accumulator);
          break;
        case 4:
          accumulateTaps<T, V, unit, kGroupChannels, 4>(buf, dy, g, p, b, q0, c, i, j0,
                                                        accumulator);
          break;
        default:
          accumulateTaps<T, V, unit, kGroupChannels, 5>(buf, dy, g, p, b, q0, c, i, j0,
                                                        accumulator);
          break;
        }
  }
#endif
  for (; j0 < g.kw; ++j0)
    accumulateTaps<T, V, unit, kBlockO, 1>(buf, dy, g, p, b, 0, c, i, j0, accumulator);
}

// Adds image `buf` / `dy` (padded) into the accumulator, V lanes per vector;
// grouped: taps in groups (accumulateRow), only where the function is
// compiled for AVX-512 (the register the group keeps each dy vector in must
// be of V lanes).
template <typename T, int V, bool unit, bool grouped>
[[gnu::always_inline]] inline void accumulateImage(const T *buf, const T *dy, const Window &g,
                                                   const Padded &p, int64_t outChannels,
                                                   T *accumulator) {
  for (int64_t b = 0; b < paddedOut(outChannels) / kBlockO; ++b)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        accumulateRow<T, V, unit, grouped>(buf, dy, g, p, b, c, i, accumulator);
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
template <typename T, int V, bool grouped = false>
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
      accumulateImage<T, V, true, grouped>(buf, dyb, g, p, outChannels, accumulator);
    else
      accumulateImage<T, V, false, grouped>(buf, dyb, g, p, outChannels, accumulator);
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
  slotImages<T, int(64 / sizeof(T)), true>(x, dy, g, o, slot);
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
