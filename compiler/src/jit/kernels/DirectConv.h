// Internal to Conv.cpp: conv2d as a direct convolution, for the layers with
// few channels where im2col + GEMM runs far below the machine's GEMM rate
// (K = C*KH*KW of 25 or 72 is too short for BLAS to reach speed, and the
// column matrix is KH*KW times the image). Which of the two runs a layer is
// measured per shape on the machine (ConvChoice.h).
//
// Per image: the image is copied once into a zero-bordered buffer (so the
// inner loops have no bounds tests and padding costs nothing), and each
// block of one output row by V output columns (one SIMD vector) by kBlockO
// output channels is accumulated in registers over every tap: one vector
// load of the image and kBlockO broadcast multiply-adds per tap. The weights
// are packed once per call as [O / kBlockO][C*KH*KW][kBlockO] (zero rows pad
// O up to a multiple of kBlockO). The vector width is chosen at run time
// from the CPU's features (AVX-512, AVX2 + FMA, or the baseline), since the
// kernels are compiled for the baseline ISA (AOT bundles run anywhere).
// Header-only so the AOT kernel object of Conv.cpp is self-contained.
#pragma once

#include "ParallelItems.h"
#include "SimdLevel.h"
#include "WindowGeometry.h" // relative: the tests include this header too

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace chainjit::compiler::jit::kernels::direct {

constexpr int64_t kBlockO = 8; // output channels held in registers at once

// v := relu(v + bias) as the add and relu ops compute it
// (ConvEpilogue::BiasRelu, ConvPlan.h): v + bias unless that is <= 0, so
// NaN passes and -0 becomes +0. By reference: a vector passed by value
// would take the baseline ISA's calling convention.
template <typename V, typename T> [[gnu::always_inline]] inline void biasRelu(V &v, T bias) {
  v = v + bias;
  v = v <= V{} ? V{} : v;
}

// The widest vector the kernel pads the image's rows for (64 bytes).
template <typename T> constexpr int64_t kMaxLanes = 64 / int64_t(sizeof(T));

// Rows and columns of the zero-bordered image buffer: every tap of every
// window, including the lanes of a last vector that run past OW.
struct Padded {
  int64_t rows, cols;
};
template <typename T> Padded paddedExtent(const Window &g) {
  const int64_t blocks = (g.ow + kMaxLanes<T> - 1) / kMaxLanes<T>;
  return {(g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1,
          (blocks * kMaxLanes<T> - 1) * g.sw + (g.kw - 1) * g.dw + 1};
}

inline int64_t paddedOut(int64_t o) { return (o + kBlockO - 1) / kBlockO * kBlockO; }

constexpr int64_t kMaxSlots = 16; // ParallelItems' most threads

// Into how many slots, each with its own padded image buffer, the images
// are split for threads (ParallelItems.h, which decides per call whether
// threads pay): at most one per image and kMaxSlots; as many buffers as fit
// in the scratch the im2col path would take for one image's columns (so the
// direct kernel asks for about the memory GEMM would), but at least 4 per
// CPU and one: forItems times the first slot alone before it splits the
// rest, so with few slots the other CPUs idle (the Fashion CNN's second
// layer had 6 slots, and its step took 13% longer than with 9).
inline int64_t minSlots() { return 4 * onlineCpus() + 1; } // also the weight adjoint's
template <typename T> int64_t slotsFor(const Window &g) {
  const Padded p = paddedExtent<T>(g);
  const int64_t image = std::max<int64_t>(1, g.c * p.rows * p.cols);
  const int64_t columns = g.c * g.kh * g.kw * g.oh * g.ow;
  return std::clamp<int64_t>(std::max(columns / image, minSlots()), 1, std::min(g.n, kMaxSlots));
}

// Scratch elements: the packed weights, then one padded image per slot.
template <typename T>
int64_t scratchElements(const Window &g, int64_t outChannels, int64_t slots) {
  const Padded p = paddedExtent<T>(g);
  return paddedOut(outChannels) * g.c * g.kh * g.kw + slots * g.c * p.rows * p.cols;
}

template <typename T>
void packWeights(const T *w, int64_t outChannels, int64_t taps, T *packed) {
  const int64_t blocks = paddedOut(outChannels) / kBlockO;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t q = 0; q < kBlockO; ++q) {
        const int64_t o = b * kBlockO + q;
        packed[(b * taps + t) * kBlockO + q] = o < outChannels ? w[o * taps + t] : T(0);
      }
}

// x [C, H, W] into the buffer [C, rows, cols]: image row r - ph at row r,
// column j - pw at column j, zero elsewhere.
template <typename T> void padImage(const T *x, const Window &g, const Padded &p, T *buf) {
  std::fill(buf, buf + g.c * p.rows * p.cols, T(0));
  const int64_t c0 = std::max<int64_t>(0, g.pw), c1 = std::min(p.cols, g.pw + g.w);
  if (c1 <= c0)
    return;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = std::max<int64_t>(0, g.ph); r < std::min(p.rows, g.ph + g.h); ++r)
      std::copy(x + (c * g.h + r - g.ph) * g.w + (c0 - g.pw),
                x + (c * g.h + r - g.ph) * g.w + (c1 - g.pw), buf + (c * p.rows + r) * p.cols + c0);
}

// xv := the window's vector at column ox0 of image row xs, whose taps are
// sw apart (unit: 1, one plain load). By reference: a vector returned by
// value would take the baseline ISA's calling convention. Also the weight
// adjoint's (DirectWeightGrad.h).
template <typename T, int V, bool unit, typename Vec>
[[gnu::always_inline]] inline void windowVector(const T *xs, int64_t ox0, int64_t sw, Vec &xv) {
  if constexpr (unit) {
    std::memcpy(&xv, xs + ox0, sizeof(Vec));
  } else {
    for (int l = 0; l < V; ++l)
      xv[l] = xs[(ox0 + l) * sw];
  }
}

// out[0, lanes) := the first lanes of v (0 < lanes <= V). A row's last
// vector is partial wherever OW is not a multiple of V (the Fashion CNN's
// 28 and 14 columns on 16 lanes): copied with a run-time length, GCC made it
// a `rep movsq`, and those copies took about a third of the forward kernel's
// time (one image of either layer in cache: 6.2 -> 4.6 us and 7.1 -> 5.8 us
// in whole chunks; the multiply-adds without any store, 3.6 and 4.8 us). So
// it goes in chunks of constant size, V/2, V/4, ... lanes, each one plain
// load and store whichever lanes are left.
template <typename T, int V, typename Vec>
[[gnu::always_inline]] inline void storeLanes(const Vec &v, int64_t lanes, T *out) {
  if (lanes == V) {
    std::memcpy(out, &v, sizeof(Vec));
    return;
  }
  alignas(sizeof(Vec)) T lanesOf[V];
  std::memcpy(lanesOf, &v, sizeof(Vec));
  int64_t at = 0;
#pragma GCC unroll 8
  for (int chunk = V / 2; chunk > 0; chunk /= 2)
    if (lanes & chunk) {
      std::memcpy(out + at, lanesOf + at, chunk * sizeof(T));
      at += chunk;
    }
}

// One image: buf as padImage wrote it, packed weights, y [O, OH, OW]. V lanes
// of T per vector; unit: the stride along the row is 1 (plain vector loads).
// bias (or null): y = relu(sum + bias[o]) (ConvEpilogue::BiasRelu).
template <typename T, int V, bool unit>
[[gnu::always_inline]] inline void convImage(const T *buf, const T *packed, const Window &g,
                                             const Padded &p, int64_t outChannels, T *y,
                                             const T *bias) {
  typedef T Vec __attribute__((vector_size(V * sizeof(T))));
  const int64_t taps = g.c * g.kh * g.kw, blocks = paddedOut(outChannels) / kBlockO;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox0 = 0; ox0 < g.ow; ox0 += V) {
        Vec acc[kBlockO];
        for (auto &a : acc)
          a = Vec{};
        const T *w = packed + b * taps * kBlockO;
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t i = 0; i < g.kh; ++i) {
            const T *row = buf + (c * p.rows + oy * g.sh + i * g.dh) * p.cols;
            for (int64_t j = 0; j < g.kw; ++j, w += kBlockO) {
              Vec xv;
              windowVector<T, V, unit>(row + j * g.dw, ox0, g.sw, xv);
              for (int q = 0; q < kBlockO; ++q)
                acc[q] += w[q] * xv;
            }
          }
        const int64_t lanes = std::min<int64_t>(V, g.ow - ox0);
        // Unrolled, without a break: Clang kept acc in memory otherwise,
        // with a store after every multiply-add.
#pragma GCC unroll 8
        for (int q = 0; q < kBlockO; ++q) {
          const int64_t o = b * kBlockO + q;
          if (o >= outChannels)
            continue;
          if (bias)
            biasRelu(acc[q], bias[o]);
          storeLanes<T, V>(acc[q], lanes, y + (o * g.oh + oy) * g.ow + ox0);
        }
      }
}

template <typename T, int V>
[[gnu::always_inline]] inline void convImages(const T *x, const T *packed, const Window &g,
                                              int64_t outChannels, T *buf, T *y, const T *bias) {
  const Padded p = paddedExtent<T>(g);
  for (int64_t n = 0; n < g.n; ++n) {
    padImage(x + n * g.c * g.h * g.w, g, p, buf);
    T *yn = y + n * outChannels * g.oh * g.ow;
    if (g.sw == 1)
      convImage<T, V, true>(buf, packed, g, p, outChannels, yn, bias);
    else
      convImage<T, V, false>(buf, packed, g, p, outChannels, yn, bias);
  }
}

#if defined(__x86_64__)
// One entry point per ISA, each compiled for its own vector width.
template <typename T>
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) void
convAvx512(const T *x, const T *packed, const Window &g, int64_t o, T *buf, T *y, const T *bias) {
  convImages<T, int(64 / sizeof(T))>(x, packed, g, o, buf, y, bias);
}
template <typename T>
__attribute__((target("avx2,fma"))) void convAvx2(const T *x, const T *packed, const Window &g,
                                                  int64_t o, T *buf, T *y, const T *bias) {
  convImages<T, int(32 / sizeof(T))>(x, packed, g, o, buf, y, bias);
}
#endif

// The images [0, g.n) of x into y, on the widest vectors this CPU has.
template <typename T>
void convOnThisCpu(const T *x, const T *packed, const Window &g, int64_t outChannels, T *buf, T *y,
                   const T *bias) {
#if defined(__x86_64__)
  switch (simdLevel()) {
  case 2:
    return convAvx512(x, packed, g, outChannels, buf, y, bias);
  case 1:
    return convAvx2(x, packed, g, outChannels, buf, y, bias);
  default: break;
  }
#endif
  convImages<T, int(16 / sizeof(T))>(x, packed, g, outChannels, buf, y, bias); // SSE2 / NEON
}

// Runs slot(s, n0, part) for the slots of g's images, slot s taking images
// [n0, n0 + part.n) = [N*s/slots, N*(s+1)/slots) (part is g with that
// batch); slots run on threads where ParallelItems' model says that pays.
// Returns the slot count used (clamped to [1, N]).
template <typename Slot> int64_t forSlots(const Window &g, int64_t slots, const Slot &slot) {
  slots = std::clamp<int64_t>(slots, 1, std::max<int64_t>(1, g.n));
  forItems(slots, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      Window part = g;
      const int64_t n0 = g.n * s / slots, n1 = g.n * (s + 1) / slots;
      part.n = n1 - n0;
      slot(s, n0, part);
    }
  });
  return slots;
}

// y [N, O, OH, OW] = conv2d(x [N, C, H, W], w [O, C, KH, KW]), with bias
// (or null) relu(conv2d + bias[o]); scratch of scratchElements<T>(g,
// outChannels, slots). Each slot convolves its images with its own padded
// buffer.
template <typename T>
void conv2d(const T *x, const T *w, const Window &g, int64_t outChannels, int64_t slots, T *scratch,
            T *y, const T *bias = nullptr) {
  const int64_t taps = g.c * g.kh * g.kw;
  packWeights(w, outChannels, taps, scratch);
  const Padded p = paddedExtent<T>(g);
  T *buffers = scratch + paddedOut(outChannels) * taps;
  forSlots(g, slots, [&](int64_t s, int64_t n0, const Window &part) {
    convOnThisCpu(x + n0 * g.c * g.h * g.w, scratch, part, outChannels,
                  buffers + s * g.c * p.rows * p.cols, y + n0 * outChannels * g.oh * g.ow, bias);
  });
}

} // namespace chainjit::compiler::jit::kernels::direct
