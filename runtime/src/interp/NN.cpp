// Neural-network layer kernels: conv2d and its two adjoints, max/avg pooling, unfold2d/fold2d
// (im2col and col2im), layer_norm and the bernoulli mask. dropout and batch_norm have no meaning of
// their own until a mode is chosen; their kernels only say how to expand them.
#include "interp/Kernels.h"

#include "chainjit/ir/CounterRng.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Tensor;

// Index of x[n, c, h, w] in an NCHW tensor of shape s.
int64_t nchw(const ir::Shape &s, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * s[1] + c) * s[2] + h) * s[3] + w;
}

// conv2d and its adjoints share one index map: tap (c, i, j) of window
// (n, o, oy, ox) pairs x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] with
// weight[o, c, i, j]. forEachConvTap calls tap(xIndex, wIndex,
// yIndex) for the pairs that lie inside x (flat NCHW / OIHW indices).
template <typename Tap>
void forEachConvTap(const ir::Shape &xs, const ir::Shape &ws, const ir::Shape &ys,
                    const ir::Ints &stride, const ir::Ints &pad, const ir::Ints &dil, Tap tap) {
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t o = 0; o < ys[1]; ++o)
      for (int64_t oy = 0; oy < ys[2]; ++oy)
        for (int64_t ox = 0; ox < ys[3]; ++ox)
          for (int64_t c = 0; c < ws[1]; ++c)
            for (int64_t i = 0; i < ws[2]; ++i)
              for (int64_t j = 0; j < ws[3]; ++j) {
                int64_t iy = oy * stride[0] - pad[0] + i * dil[0];
                int64_t ix = ox * stride[1] - pad[1] + j * dil[1];
                if (iy < 0 || iy >= xs[2] || ix < 0 || ix >= xs[3])
                  continue; // zero padding
                tap(nchw(xs, n, c, iy, ix), nchw(ws, o, c, i, j), nchw(ys, n, o, oy, ox));
              }
}

Tensor sumsAsTensor(const ir::TensorType &t, const std::vector<double> &acc) {
  Tensor r(t);
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, acc[static_cast<size_t>(i)]);
  return r;
}

// One of conv2d and its adjoints: its result sums, over forEachConvTap of
// the layer with input xs, weight ws and output ys (the node's stride,
// padding and dilation), term(xIndex, wIndex, yIndex) into the result
// element it names.
template <typename Term>
Tensor convSums(const KernelArgs &a, const ir::Shape &xs, const ir::Shape &ws, const ir::Shape &ys,
                Term term) {
  std::vector<double> acc(static_cast<size_t>(a.resultType().numel()), 0.0);
  forEachConvTap(xs, ws, ys, a.attrs().getInts("stride"), a.attrs().getInts("padding"),
                 a.attrs().getInts("dilation"), [&](int64_t xi, int64_t wi, int64_t yi) {
                   auto [at, value] = term(xi, wi, yi);
                   acc[static_cast<size_t>(at)] += value;
                 });
  return sumsAsTensor(a.resultType(), acc);
}

// out[n, o, y, x] = sum over c, i, j of
//   input[n, c, y*sh - ph + i*dh, x*sw - pw + j*dw] * weight[o, c, i, j],
// reading zero outside the input: cross-correlation, as PyTorch's conv2d.
Tensor conv2dKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0), &w = a.in(1);
  return convSums(a, x.shape(), w.shape(), a.resultType().shape, [&](auto xi, auto wi, auto yi) {
    return std::pair{yi, x.at(xi) * w.at(wi)};
  });
}

// conv_transpose2d: input [N, O, OH, OW] is conv2d's output, the result
// [N, C, H, W] its input: every input element adds itself times weight[o, c,
// i, j] at the position tap (i, j) of its window reads.
Tensor convTranspose2dKernel(const KernelArgs &a) {
  const Tensor &y = a.in(0), &w = a.in(1);
  return convSums(a, a.resultType().shape, w.shape(), y.shape(), [&](auto xi, auto wi, auto yi) {
    return std::pair{xi, y.at(yi) * w.at(wi)};
  });
}

// conv2d_weight_grad: result[o, c, i, j] = sum over n, oy, ox of
// output_grad[n, o, oy, ox] * input[n, c, oy*sh - ph + i*dh, ...].
Tensor conv2dWeightGradKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0), &g = a.in(1);
  return convSums(a, x.shape(), a.resultType().shape, g.shape(), [&](auto xi, auto wi, auto yi) {
    return std::pair{wi, g.at(yi) * x.at(xi)};
  });
}

// Pooling over kernel windows placed every `stride` (default: the kernel)
// on the input padded by `padding`. Max: padded positions are skipped, so
// padding never wins (every window holds at least one real element, since
// padding <= kernel / 2). Avg: padded positions count as zeros, the divisor
// is always the kernel area (PyTorch's count_include_pad=True).
template <bool Max>
Tensor poolKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  const ir::Ints &k = a.attrs().getInts("kernel");
  const ir::Ints &pad = a.attrs().getInts("padding");
  ir::Ints stride = a.attrs().getInts("stride");
  if (stride.empty())
    stride = k;
  const ir::Shape &xs = x.shape();
  Tensor r(a.resultType());
  const ir::Shape &rs = r.shape();
  for (int64_t n = 0; n < rs[0]; ++n)
    for (int64_t c = 0; c < rs[1]; ++c)
      for (int64_t oy = 0; oy < rs[2]; ++oy)
        for (int64_t ox = 0; ox < rs[3]; ++ox) {
          double acc = Max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              int64_t iy = oy * stride[0] - pad[0] + i;
              int64_t ix = ox * stride[1] - pad[1] + j;
              if (iy < 0 || iy >= xs[2] || ix < 0 || ix >= xs[3])
                continue;
              double v = x.at(nchw(xs, n, c, iy, ix));
              if (!Max)
                acc += v;
              else if (std::isnan(v) || v > acc) // NaN propagates
                acc = v;
              if (Max && std::isnan(acc))
                break;
            }
          r.set(nchw(rs, n, c, oy, ox), Max ? acc : acc / double(k[0] * k[1]));
        }
  return r;
}

// max_pool2d_grad: each window's output_grad, shared equally by the taps
// inside the input that equal the window's maximum (max_pool2d's rule: NaN
// wins); a window holding a NaN gives NaN to all its taps.
Tensor maxPool2dGradKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0), &dy = a.in(1);
  const ir::Ints &k = a.attrs().getInts("kernel");
  const ir::Ints &pad = a.attrs().getInts("padding");
  ir::Ints stride = a.attrs().getInts("stride");
  if (stride.empty())
    stride = k;
  const ir::Shape &xs = x.shape(), &ys = dy.shape();
  std::vector<double> acc(static_cast<size_t>(x.numel()), 0.0);
  std::vector<int64_t> taps;
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t c = 0; c < ys[1]; ++c)
      for (int64_t oy = 0; oy < ys[2]; ++oy)
        for (int64_t ox = 0; ox < ys[3]; ++ox) {
          taps.clear();
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              int64_t iy = oy * stride[0] - pad[0] + i, ix = ox * stride[1] - pad[1] + j;
              if (iy >= 0 && iy < xs[2] && ix >= 0 && ix < xs[3])
                taps.push_back(nchw(xs, n, c, iy, ix));
            }
          double max = -std::numeric_limits<double>::infinity();
          bool nan = false;
          for (int64_t t : taps) {
            max = std::max(max, x.at(t));
            nan |= std::isnan(x.at(t));
          }
          int64_t hits = 0;
          for (int64_t t : taps)
            hits += x.at(t) == max;
          const double g = dy.at(nchw(ys, n, c, oy, ox));
          for (int64_t t : taps)
            if (nan)
              acc[static_cast<size_t>(t)] += std::numeric_limits<double>::quiet_NaN();
            else if (x.at(t) == max)
              acc[static_cast<size_t>(t)] += g / double(hits);
        }
  return sumsAsTensor(a.resultType(), acc);
}

// The window geometry of unfold2d and fold2d: tap (i, j) of window (oy, ox)
// reads input row oy*sh - ph + i*dh, column ox*sw - pw + j*dw.
struct WindowGrid {
  ir::Ints kernel, stride, pad, dil;
  int64_t oh, ow; // windows per column and per row

  int64_t row(int64_t oy, int64_t i) const { return oy * stride[0] - pad[0] + i * dil[0]; }
  int64_t col(int64_t ox, int64_t j) const { return ox * stride[1] - pad[1] + j * dil[1]; }
};
WindowGrid windowGrid(const KernelArgs &a, int64_t h, int64_t w) {
  WindowGrid g{a.attrs().getInts("kernel"), a.attrs().getInts("stride"),
               a.attrs().getInts("padding"), a.attrs().getInts("dilation"), 0, 0};
  g.oh = (h + 2 * g.pad[0] - g.dil[0] * (g.kernel[0] - 1) - 1) / g.stride[0] + 1;
  g.ow = (w + 2 * g.pad[1] - g.dil[1] * (g.kernel[1] - 1) - 1) / g.stride[1] + 1;
  return g;
}

// The im2col index map, in one place for unfold2d and fold2d: calls
// tap(column, image) for every entry of the columns tensor [N, C*KH*KW, L],
// where column = (n*C*KH*KW + (c*KH + i)*KW + j)*L + oy*OW + ox and image is
// the flat NCHW index of x[n, c, row(oy, i), col(ox, j)], or -1 where that
// lies in the padding (PyTorch's nn.Unfold layout).
template <typename Tap>
void forEachTap(const WindowGrid &g, const ir::Shape &image, Tap tap) {
  const int64_t rows = image[1] * g.kernel[0] * g.kernel[1], l = g.oh * g.ow;
  for (int64_t n = 0; n < image[0]; ++n)
    for (int64_t c = 0; c < image[1]; ++c)
      for (int64_t i = 0; i < g.kernel[0]; ++i)
        for (int64_t j = 0; j < g.kernel[1]; ++j) {
          int64_t rowOfCols = (c * g.kernel[0] + i) * g.kernel[1] + j;
          for (int64_t oy = 0; oy < g.oh; ++oy)
            for (int64_t ox = 0; ox < g.ow; ++ox) {
              int64_t iy = g.row(oy, i), ix = g.col(ox, j);
              bool inside = iy >= 0 && iy < image[2] && ix >= 0 && ix < image[3];
              tap((n * rows + rowOfCols) * l + oy * g.ow + ox,
                  inside ? nchw(image, n, c, iy, ix) : int64_t{-1});
            }
        }
}

Tensor unfold2dKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  WindowGrid g = windowGrid(a, x.shape()[2], x.shape()[3]);
  double padValue = a.attrs().getFloat("pad_value");
  Tensor r(a.resultType());
  forEachTap(g, x.shape(), [&](int64_t column, int64_t image) {
    r.set(column, image >= 0 ? x.at(image) : padValue);
  });
  return r;
}

// The adjoint of unfold2d: every column entry is added to the image position
// it was read from; entries read from the padding are dropped.
Tensor fold2dKernel(const KernelArgs &a) {
  const Tensor &cols = a.in(0);
  const ir::Shape &rs = a.resultType().shape;
  WindowGrid g = windowGrid(a, rs[2], rs[3]);
  std::vector<double> acc(static_cast<size_t>(a.resultType().numel()), 0.0);
  forEachTap(g, rs, [&](int64_t column, int64_t image) {
    if (image >= 0)
      acc[static_cast<size_t>(image)] += cols.at(column);
  });
  return sumsAsTensor(a.resultType(), acc);
}

// Element i is 1 when counterUniform(seed, counter, i) < p, else 0. The
// counter (an i32 value) and the seed are sign-extended to 64 bits, so the
// JIT must convert them the same way to agree bit for bit.
Tensor bernoulliKernel(const KernelArgs &a) {
  auto counter = static_cast<uint64_t>(static_cast<int64_t>(a.in(0).at(0)));
  auto seed = static_cast<uint64_t>(a.attrs().getInt("seed"));
  double p = a.attrs().getFloat("p");
  Tensor r(a.resultType());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, ir::counterUniform(seed, counter, static_cast<uint64_t>(i)) < p ? 1.0
                                                                            : 0.0);
  return r;
}

// layer_norm: each row (the axes from `axis` on) centred by its mean, divided
// by sqrt(variance + eps) with the biased variance from a second pass over the
// centred values (never E[x^2] - E[x]^2), then times scale plus shift.
Tensor layerNormKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  const ir::Shape &s = x.shape();
  const size_t axis = static_cast<size_t>(
      normalizeAxis(a.attrs().getInt("axis"), static_cast<int64_t>(s.size())));
  const int64_t rows = extent(s, 0, axis), n = extent(s, axis, s.size());
  const double eps = a.attrs().getFloat("eps");
  const Tensor *scale = a.operands.size() > 1 ? &a.in(1) : nullptr;
  const Tensor *shift = a.operands.size() > 2 ? &a.in(2) : nullptr;
  Tensor r(a.resultType());
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t base = row * n;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < n; ++j)
      mean += x.at(base + j);
    mean /= double(n);
    for (int64_t j = 0; j < n; ++j) {
      double d = x.at(base + j) - mean;
      var += d * d;
    }
    const double rstd = 1.0 / std::sqrt(var / double(n) + eps);
    for (int64_t j = 0; j < n; ++j) {
      double y = (x.at(base + j) - mean) * rstd;
      if (scale)
        y *= scale->at(j);
      if (shift)
        y += shift->at(j);
      r.set(base + j, y);
    }
  }
  return r;
}

Tensor unexpandedKernel(const KernelArgs &a) {
  a.fail("this op depends on the mode; expand the graph for training or "
         "evaluation first (pass expand-train or expand-eval, "
         "compiler::expandModes)");
}

} // namespace

std::vector<KernelEntry> nnKernels() {
  return {
      {OpKind::Conv2d, conv2dKernel},
      {OpKind::ConvTranspose2d, convTranspose2dKernel},
      {OpKind::Conv2dWeightGrad, conv2dWeightGradKernel},
      {OpKind::LayerNorm, layerNormKernel},
      {OpKind::MaxPool2d, poolKernel<true>},
      {OpKind::MaxPool2dGrad, maxPool2dGradKernel},
      {OpKind::AvgPool2d, poolKernel<false>},
      {OpKind::Unfold2d, unfold2dKernel},
      {OpKind::Fold2d, fold2dKernel},
      {OpKind::Bernoulli, bernoulliKernel},
      {OpKind::Dropout, unexpandedKernel},
      {OpKind::BatchNorm, unexpandedKernel},
  };
}

} // namespace chainjit::runtime::interp
