// Internal to Pool.cpp: max_pool2d and its adjoint max_pool2d_grad for 2x2
// windows with stride 2 and no padding (the pooling of most CNNs) on AVX2
// vectors, 8 windows at a time: the taps of a window row are de-interleaved
// from the two image rows (a b | c d), and the adjoint's shares interleaved
// back. Written as scalars, which tap wins is data: the compiler's branches
// mispredicted and both passes ran at about 10 cycles a window (a fifth of
// the Fashion CNN's training step).
//
// Every function here carries the AVX2 target itself: GCC turned the same
// vector code into scalars when it sat in a helper compiled for the
// baseline ISA and inlined into an AVX2 function. 8 lanes (two halves for
// double) on AVX2 and AVX-512 CPUs alike; Pool.cpp runs its scalar loops on
// others.
//
// The last vector of a window row reads and writes past the row: a read
// stays inside the plane except on its last row of windows, and a write
// lands on elements that the loop writes again later (the forward pass: the
// next row of y; the adjoint: the start of the second image row, whose
// vectors it writes after the row's last one, and the next row of windows),
// when what it writes past the row fits in the next row of windows, so only
// planes of fewer than 4 windows a row, the plane's last row of windows,
// and planes of odd width (whose last column no window writes) go through
// zero-padded copies.
#pragma once

#if defined(__x86_64__)

#include "WindowGeometry.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

namespace chainjit::compiler::jit::kernels::pool2x2 {

constexpr int kLanes = 8;

#define CJ_AVX2 __attribute__((target("avx2,fma"), always_inline)) inline

template <typename T> struct Taps {
  typedef T Vec __attribute__((vector_size(kLanes * sizeof(T))));
  typedef decltype(Vec{} != Vec{}) Mask; // integer lanes: -1 true, 0 false
  Vec a, b, c, d; // the windows' taps: row 0 left, right; row 1 left, right
  Vec max;        // compared in poolPlane's order; NaN where a tap is NaN
  Mask nan;       // where a tap is NaN
};

// The 8 windows whose row-0 taps start at x0 and row-1 taps at x1.
template <typename T> CJ_AVX2 Taps<T> loadTaps(const T *x0, const T *x1) {
  using Vec = typename Taps<T>::Vec;
  Vec lo0, hi0, lo1, hi1;
  std::memcpy(&lo0, x0, sizeof(Vec)), std::memcpy(&hi0, x0 + kLanes, sizeof(Vec));
  std::memcpy(&lo1, x1, sizeof(Vec)), std::memcpy(&hi1, x1 + kLanes, sizeof(Vec));
  Taps<T> t;
  t.a = __builtin_shufflevector(lo0, hi0, 0, 2, 4, 6, 8, 10, 12, 14);
  t.b = __builtin_shufflevector(lo0, hi0, 1, 3, 5, 7, 9, 11, 13, 15);
  t.c = __builtin_shufflevector(lo1, hi1, 0, 2, 4, 6, 8, 10, 12, 14);
  t.d = __builtin_shufflevector(lo1, hi1, 1, 3, 5, 7, 9, 11, 13, 15);
  Vec m = t.a;
  m = t.b > m ? t.b : m;
  m = t.c > m ? t.c : m;
  m = t.d > m ? t.d : m;
  t.nan = (t.a != t.a) | (t.b != t.b) | (t.c != t.c) | (t.d != t.d);
  // A window holding a NaN gives its last NaN, as poolPlane.
  const Vec lastNan = t.d != t.d ? t.d : t.c != t.c ? t.c : t.b != t.b ? t.b : t.a;
  t.max = t.nan ? lastNan : m;
  return t;
}

// Whether the vector of windows at column ox0 of window row oy may read and
// write whole vectors in place (see the file comment): inside the row, or
// past it into the next row of windows only (at most a row: planes of 4 to
// 7 windows a row too, the Fashion CNN's second pool's 7).
inline bool inPlace(const Window &g, int64_t oy, int64_t ox0) {
  return ox0 + kLanes <= g.ow || (ox0 + kLanes <= 2 * g.ow && oy + 1 < g.oh && 2 * g.ow == g.w);
}

// y [OH, OW] of one plane x [H, W].
template <typename T>
__attribute__((target("avx2,fma"))) void forward(const T *x, T *y, const Window &g) {
  using Vec = typename Taps<T>::Vec;
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox0 = 0; ox0 < g.ow; ox0 += kLanes) {
      const T *x0 = x + 2 * oy * g.w + 2 * ox0, *x1 = x0 + g.w;
      T *out = y + oy * g.ow + ox0;
      const int64_t n = std::min<int64_t>(kLanes, g.ow - ox0);
      T in[2][2 * kLanes], tail[kLanes]; // zeroed only when used
      if (!inPlace(g, oy, ox0)) {
        std::fill(&in[0][0], &in[0][0] + 2 * 2 * kLanes, T(0));
        std::copy(x0, x0 + 2 * n, in[0]), std::copy(x1, x1 + 2 * n, in[1]);
        x0 = in[0], x1 = in[1], out = tail;
      }
      const Vec m = loadTaps(x0, x1).max;
      std::memcpy(out, &m, sizeof(Vec));
      if (out == tail)
        std::copy(tail, tail + n, y + oy * g.ow + ox0);
    }
}

// dx [H, W] of one plane from x [H, W] and dy [OH, OW]: each window's dy
// shared by its taps equal to the maximum (NaN to all when it holds a NaN).
template <typename T>
__attribute__((target("avx2,fma"))) void adjoint(const T *x, const T *dy, T *dx, const Window &g) {
  using Vec = typename Taps<T>::Vec;
  if (2 * g.oh < g.h || 2 * g.ow < g.w) // the row and column no window covers
    std::fill(dx, dx + g.h * g.w, T(0));
  const Vec zero = {}, nanValue = zero + std::numeric_limits<T>::quiet_NaN();
  const int64_t vectors = (g.ow + kLanes - 1) / kLanes;
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t v = 0; v < vectors; ++v) {
      // The row's last vector first: what it writes past the first image
      // row, the others write again.
      const int64_t ox0 = (v == 0 ? vectors - 1 : v - 1) * kLanes;
      const T *x0 = x + 2 * oy * g.w + 2 * ox0, *x1 = x0 + g.w, *gy = dy + oy * g.ow + ox0;
      T *o0 = dx + 2 * oy * g.w + 2 * ox0, *o1 = o0 + g.w;
      const int64_t n = std::min<int64_t>(kLanes, g.ow - ox0);
      T in[3][2 * kLanes], out[2][2 * kLanes]; // zeroed only when used
      const bool copies = !inPlace(g, oy, ox0);
      if (copies) {
        std::fill(&in[0][0], &in[0][0] + 3 * 2 * kLanes, T(0));
        std::copy(x0, x0 + 2 * n, in[0]), std::copy(x1, x1 + 2 * n, in[1]);
        std::copy(gy, gy + n, in[2]);
        x0 = in[0], x1 = in[1], gy = in[2], o0 = out[0], o1 = out[1];
      }
      const Taps<T> t = loadTaps(x0, x1);
      Vec gv;
      std::memcpy(&gv, gy, sizeof(Vec));
      const auto nan = t.nan;
      const auto hits = -((t.a == t.max) + (t.b == t.max) + (t.c == t.max) + (t.d == t.max));
      const Vec share = nan ? nanValue : gv / __builtin_convertvector(hits, Vec);
      const Vec sa = (nan | (t.a == t.max)) ? share : zero;
      const Vec sb = (nan | (t.b == t.max)) ? share : zero;
      const Vec sc = (nan | (t.c == t.max)) ? share : zero;
      const Vec sd = (nan | (t.d == t.max)) ? share : zero;
      const Vec w0 = __builtin_shufflevector(sa, sb, 0, 8, 1, 9, 2, 10, 3, 11);
      const Vec w1 = __builtin_shufflevector(sa, sb, 4, 12, 5, 13, 6, 14, 7, 15);
      const Vec w2 = __builtin_shufflevector(sc, sd, 0, 8, 1, 9, 2, 10, 3, 11);
      const Vec w3 = __builtin_shufflevector(sc, sd, 4, 12, 5, 13, 6, 14, 7, 15);
      std::memcpy(o0, &w0, sizeof(Vec)), std::memcpy(o0 + kLanes, &w1, sizeof(Vec));
      std::memcpy(o1, &w2, sizeof(Vec)), std::memcpy(o1 + kLanes, &w3, sizeof(Vec));
      if (copies) {
        T *d0 = dx + 2 * oy * g.w + 2 * ox0;
        std::copy(out[0], out[0] + 2 * n, d0);
        std::copy(out[1], out[1] + 2 * n, d0 + g.w);
      }
    }
}

#undef CJ_AVX2

} // namespace chainjit::compiler::jit::kernels::pool2x2

#endif
