// Internal to the library kernels: the rows of a softmax along a contiguous
// axis, the one computation of cross_entropy (Loss.cpp) and of softmax and
// log_softmax (Reduce.cpp), so that the softmax the loss writes for its
// gradient (LoweringPlan.cpp, chainSoftmax) has the softmax kernel's values
// by construction. Header-only, libc only: the AOT kernel object carries it.
#pragma once

#include "KernelSupport.h"
#include "VectorExp.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace chainjit::compiler::jit::kernels {

// Rows a kernel passes to softmaxRows at once (its m and s on the stack).
inline constexpr int64_t kSoftmaxRowsAtOnce = 64;
// Logits exponentiated in one call (VectorExp.h), on the stack: many short
// rows at once (a call per row of 10 classes cost more than the vector exp
// saved), a long row in pieces.
inline constexpr int64_t kExpChunk = 1024;

// For rows [0, count) of `x` [count, len]: the max m[r] (skipping NaN) and
// s[r] = sum_j e^(x[r, j] - m[r]), added in j order; with `probs`, also
// its rows of softmax, e^(x - m) / s. Each e^x is the same wherever its
// element falls in a call of expInPlace (a tail is a zero-padded vector).
template <typename T>
void softmaxRows(const T *x, int64_t count, int64_t len, T *m, T *s, T *probs) {
  for (int64_t r = 0; r < count; ++r) {
    m[r] = -std::numeric_limits<T>::infinity();
    s[r] = 0;
    for (int64_t j = 0; j < len; ++j)
      m[r] = maxSkippingNan(m[r], x[r * len + j]);
  }
  T shifted[kExpChunk];
  // Whole rows while they fit: `rows` at a time, else one row in pieces.
  const int64_t rows = std::max<int64_t>(kExpChunk / std::max<int64_t>(len, 1), 1);
  const int64_t piece = std::min(len, kExpChunk);
  for (int64_t r0 = 0; r0 < count; r0 += rows) {
    const int64_t r1 = std::min(count, r0 + rows);
    for (int64_t j0 = 0; j0 < len; j0 += piece) {
      const int64_t width = std::min(piece, len - j0);
      // Whole rows or one row's piece: contiguous in `probs` too.
      T *e = probs ? probs + r0 * len + j0 : shifted;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < width; ++j)
          e[(r - r0) * width + j] = x[r * len + j0 + j] - m[r];
      expInPlace(e, (r1 - r0) * width);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < width; ++j)
          s[r] += e[(r - r0) * width + j];
    }
  }
  if (probs)
    for (int64_t r = 0; r < count; ++r)
      for (int64_t j = 0; j < len; ++j)
        probs[r * len + j] /= s[r];
}

} // namespace chainjit::compiler::jit::kernels
