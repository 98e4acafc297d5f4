// Internal to the library kernels: the window geometry that conv2d, the
// pools, unfold2d and fold2d share, as it travels in their params, and the
// ranges of windows whose taps fall inside the image (so the inner loops
// need no bounds test per element).
//
// params [0, kWindowParams): [0] N, [1] C, [2] H, [3] W of the image (NCHW),
// [4] KH, [5] KW, [6] OH, [7] OW windows per column and row, [8] stride h,
// [9] stride w, [10] padding h, [11] padding w, [12] dilation h,
// [13] dilation w. Tap (i, j) of window (oy, ox) reads image row
// oy*sh - ph + i*dh and column ox*sw - pw + j*dw.
#pragma once

#include "chainjit/ir/Attr.h"
#include "chainjit/ir/Types.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace chainjit::compiler::jit::kernels {

constexpr int64_t kWindowParams = 14;

struct Window {
  int64_t n, c, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
};

inline Window readWindow(const int64_t *p) {
  return {p[0], p[1], p[2], p[3],  p[4],  p[5],  p[6],
          p[7], p[8], p[9], p[10], p[11], p[12], p[13]};
}

// The params of an [N, C, H, W] image under the given window attributes.
inline std::vector<int64_t> windowParams(const ir::Shape &image, const ir::Ints &kernel,
                                         const ir::Ints &stride, const ir::Ints &pad,
                                         const ir::Ints &dil) {
  auto windows = [&](int d) {
    return (image[2 + d] + 2 * pad[d] - dil[d] * (kernel[d] - 1) - 1) / stride[d] + 1;
  };
  return {image[0],  image[1],  image[2], image[3], kernel[0], kernel[1], windows(0),
          windows(1), stride[0], stride[1], pad[0],  pad[1],    dil[0],    dil[1]};
}

// The windows [lo, hi) among `windows` whose tap at position o*stride +
// offset lies inside [0, extent).
struct TapRange {
  int64_t lo, hi;
};
inline TapRange tapRange(int64_t offset, int64_t stride, int64_t extent,
                         int64_t windows) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; }; // a >= 0
  int64_t lo = offset >= 0 ? 0 : ceilDiv(-offset, stride);
  int64_t hi = extent - offset <= 0 ? 0 : ceilDiv(extent - offset, stride);
  lo = std::min(lo, windows);
  return {lo, std::clamp(hi, lo, windows)};
}

// The im2col index map of one image, in one place for unfold2d, conv2d and
// fold2d: for every tap (c, i, j) and window row oy, calls
// row(column, image, inside, xs) where `column` is the flat index of
// columns[(c*KH + i)*KW + j, oy*OW] in the [C*KH*KW, OH*OW] column matrix,
// `inside` says whether the image row lies inside the image, and then
// window ox of that row reads image element image + ox*sw for ox in xs (the
// windows outside xs read the padding).
template <typename RowFn>
void forEachTapRow(const Window &g, RowFn row) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t offY = i * g.dh - g.ph, offX = j * g.dw - g.pw;
        const TapRange ys = tapRange(offY, g.sh, g.h, g.oh);
        const TapRange xs = tapRange(offX, g.sw, g.w, g.ow);
        const int64_t tap = ((c * g.kh + i) * g.kw + j) * g.oh;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          bool inside = oy >= ys.lo && oy < ys.hi;
          row((tap + oy) * g.ow, (c * g.h + oy * g.sh + offY) * g.w + offX, inside, xs);
        }
      }
}

} // namespace chainjit::compiler::jit::kernels
