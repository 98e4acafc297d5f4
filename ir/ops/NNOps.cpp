// Neural-network layers: convolution, pooling, unfold/fold (im2col and its
// adjoint), the dropout mask, and the two mode-dependent layers (dropout,
// batch_norm) that the mode expansion turns into primitives for training or
// evaluation.
#include "OpFamilies.h"

#include <utility>

namespace chainjit::ir::ops {

// a * b and a + b of sizes, or an error saying which size overflowed.
static int64_t checkedMul(int64_t a, int64_t b, const std::string &what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(what + " (" + std::to_string(a) + " * " + std::to_string(b) +
                ") overflows int64");
  return r;
}
static int64_t checkedAdd(int64_t a, int64_t b, const std::string &what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw Error(what + " (" + std::to_string(a) + " + " + std::to_string(b) +
                ") overflows int64");
  return r;
}

// How many windows of `kernel` taps, `dilation` apart, fit every `stride`
// along an axis of extent `in` padded by `pad` on both sides.
static int64_t outputExtent(int64_t in, int64_t kernel, int64_t stride,
                            int64_t pad, int64_t dilation, std::string_view axis) {
  const std::string a(axis);
  int64_t span = checkedAdd(
      checkedMul(dilation, kernel - 1, "the dilated window " + a), 1,
      "the dilated window " + a);
  int64_t padded = checkedAdd(in, checkedMul(2, pad, "the padding of the " + a),
                              "the padded " + a);
  if (padded < span)
    throw Error("window of extent " + std::to_string(span) +
                " does not fit the padded " + a + " " + std::to_string(padded));
  return (padded - span) / stride + 1;
}

// A window's kernel, stride, padding and dilation. windowAttrs: all four
// from the attributes, checked (unfold2d, fold2d, conv2d_weight_grad);
// convWindow: the kernel from a weight's taps (conv2d, conv_transpose2d).
struct Window {
  Ints kernel, stride, padding, dilation;
};
static Window convWindow(const Attrs &a, Ints kernel) {
  Window w{std::move(kernel), a.getInts("stride"), a.getInts("padding"), a.getInts("dilation")};
  requirePositiveList(w.stride, 2, "stride");
  requirePositiveList(w.padding, 2, "padding", /*allowZero=*/true);
  requirePositiveList(w.dilation, 2, "dilation");
  return w;
}
static Window windowAttrs(const Attrs &a) {
  Window w = convWindow(a, a.getInts("kernel"));
  requirePositiveList(w.kernel, 2, "kernel");
  return w;
}
// OH * OW: how many windows fit an [h, w] plane.
static std::pair<int64_t, int64_t> windowGrid(int64_t h, int64_t w, const Window &win) {
  return {outputExtent(h, win.kernel[0], win.stride[0], win.padding[0],
                       win.dilation[0], "height"),
          outputExtent(w, win.kernel[1], win.stride[1], win.padding[1],
                       win.dilation[1], "width")};
}

static TensorType conv2dRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireSameDType(in[0], in[1]);
  requireRank(in[0], 4, "input (NCHW)");
  requireRank(in[1], 4, "weight (OIHW)");
  const Shape &x = in[0].shape, &w = in[1].shape;
  const Window win = convWindow(a, {w[2], w[3]});
  if (x[1] != w[1])
    throw Error("input has " + std::to_string(x[1]) +
                " channels but the weight expects " + std::to_string(w[1]));
  auto [oh, ow] = windowGrid(x[2], x[3], win);
  return {in[0].dtype, {x[0], w[0], oh, ow}};
}

// conv2d's adjoint in its input: [N, O, OH, OW] with weight [O, C, KH, KW]
// -> [N, C, H, W], H = (OH-1)*stride - 2*padding + dilation*(KH-1) +
// output_padding + 1: the one H (with output_padding < stride) on which
// conv2d with these attributes gives OH windows again.
static TensorType convTranspose2dRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireSameDType(in[0], in[1]);
  requireRank(in[0], 4, "input (NCHW)");
  requireRank(in[1], 4, "weight (OIHW: input channels, output channels, KH, KW)");
  const Shape &x = in[0].shape, &w = in[1].shape;
  const Window win = convWindow(a, {w[2], w[3]});
  const Ints &s = win.stride, &p = win.padding, &d = win.dilation,
             &op = a.getInts("output_padding");
  requirePositiveList(op, 2, "output_padding", /*allowZero=*/true);
  if (x[1] != w[0])
    throw Error("input has " + std::to_string(x[1]) +
                " channels but the weight expects " + std::to_string(w[0]) +
                " (weight dim 0)");
  Shape out{x[0], w[1], 0, 0};
  static const char *axes[] = {"height", "width"};
  for (int i = 0; i < 2; ++i) {
    const std::string axis = axes[i];
    if (op[i] >= s[i])
      throw Error("output_padding " + shapeStr(op) + " must be smaller than the stride " +
                  shapeStr(s));
    if (x[2 + i] == 0)
      throw Error("input has no windows along the " + axis);
    // (OH-1)*s + d*(KH-1) + op + 1 - 2p, each step checked.
    int64_t e = checkedMul(x[2 + i] - 1, s[i], "the strided " + axis);
    e = checkedAdd(e, checkedMul(d[i], w[2 + i] - 1, "the dilated window " + axis),
                   "the output " + axis);
    e = checkedAdd(e, op[i] + 1, "the output " + axis);
    const int64_t cut = checkedMul(2, p[i], "the padding of the " + axis);
    if (e <= cut)
      throw Error("the padding " + shapeStr(p) + " leaves no output " + axis + " (" +
                  std::to_string(e) + " - " + std::to_string(cut) + ")");
    out[2 + i] = e - cut;
  }
  return {in[0].dtype, out};
}

// conv2d's adjoint in its weight: input [N, C, H, W] and output_grad
// [N, O, OH, OW] (OH * OW the windows of `kernel` on the input) ->
// [O, C, KH, KW].
static TensorType conv2dWeightGradRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireSameDType(in[0], in[1]);
  requireRank(in[0], 4, "input (NCHW)");
  requireRank(in[1], 4, "output_grad (NCHW)");
  const Window win = windowAttrs(a);
  const Ints &k = win.kernel;
  const Shape &x = in[0].shape, &g = in[1].shape;
  if (x[0] != g[0])
    throw Error("input has batch " + std::to_string(x[0]) + " but output_grad has " +
                std::to_string(g[0]));
  auto [oh, ow] = windowGrid(x[2], x[3], win);
  if (g[2] != oh || g[3] != ow)
    throw Error("output_grad has " + std::to_string(g[2]) + "x" + std::to_string(g[3]) +
                " windows but conv2d of the input " + shapeStr(x) + " gives " +
                std::to_string(oh) + "x" + std::to_string(ow));
  return {in[0].dtype, {g[1], x[1], k[0], k[1]}};
}

// max_pool2d's adjoint: input [N, C, H, W] and output_grad of max_pool2d's
// result shape -> the input's type.
static TensorType pool2dRule(std::span<const TensorType> in, const Attrs &a);
static TensorType maxPool2dGradRule(std::span<const TensorType> in, const Attrs &a) {
  const TensorType pooled = pool2dRule(in.first(1), a);
  requireSameDType(in[0], in[1]);
  if (in[1].shape != pooled.shape)
    throw Error("output_grad " + in[1].str() + " must have the pooled shape " +
                shapeStr(pooled.shape));
  return in[0];
}

static TensorType pool2dRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireRank(in[0], 4, "input (NCHW)");
  const Ints &k = a.getInts("kernel"), &p = a.getInts("padding");
  Ints s = a.getInts("stride");
  if (s.empty())
    s = k;
  requirePositiveList(k, 2, "kernel");
  requirePositiveList(s, 2, "stride");
  requirePositiveList(p, 2, "padding", /*allowZero=*/true);
  for (int i = 0; i < 2; ++i)
    if (p[i] > k[i] / 2) // 2 * p > k, without overflow
      throw Error("padding " + shapeStr(p) + " exceeds half the kernel " +
                  shapeStr(k));
  const Shape &x = in[0].shape;
  return {in[0].dtype,
          {x[0], x[1], outputExtent(x[2], k[0], s[0], p[0], 1, "height"),
           outputExtent(x[3], k[1], s[1], p[1], 1, "width")}};
}

// [N, C, H, W] -> [N, C*KH*KW, OH*OW]: every window as a column.
static TensorType unfold2dRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireRank(in[0], 4, "input (NCHW)");
  Window win = windowAttrs(a);
  const Shape x = in[0].shape;
  auto [oh, ow] = windowGrid(x[2], x[3], win);
  int64_t area = checkedMul(win.kernel[0], win.kernel[1], "the kernel area KH*KW");
  return {in[0].dtype,
          {x[0], checkedMul(x[1], area, "the rows C*KH*KW"),
           checkedMul(oh, ow, "the window count OH*OW")}};
}

// [N, C*KH*KW, L] -> [N, C, H, W] with L the windows that fit [H, W].
static TensorType fold2dRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireRank(in[0], 3, "input [N, C*KH*KW, L]");
  Window win = windowAttrs(a);
  const Ints &out = a.getInts("output");
  requirePositiveList(out, 2, "output", /*allowZero=*/true);
  const Shape c = in[0].shape;
  int64_t area = checkedMul(win.kernel[0], win.kernel[1], "the kernel area KH*KW");
  if (c[1] % area != 0)
    throw Error("input has " + std::to_string(c[1]) +
                " rows, not a multiple of the kernel area " +
                std::to_string(win.kernel[0]) + "*" + std::to_string(win.kernel[1]) +
                " = " + std::to_string(area));
  auto [oh, ow] = windowGrid(out[0], out[1], win);
  int64_t windows = checkedMul(oh, ow, "the window count OH*OW");
  if (c[2] != windows)
    throw Error("input has " + std::to_string(c[2]) + " columns but " +
                std::to_string(oh) + "*" + std::to_string(ow) + " = " +
                std::to_string(windows) + " windows fit the output " + shapeStr(out));
  return {in[0].dtype, {c[0], c[1] / area, out[0], out[1]}};
}

static void requireCounter(const TensorType &t) {
  if (t != TensorType{DType::i32, {}})
    throw Error("counter must be an i32 scalar, got " + t.str());
}

static TensorType bernoulliRule(std::span<const TensorType> in, const Attrs &a) {
  requireCounter(in[0]);
  double p = a.getFloat("p");
  if (!(p >= 0.0 && p <= 1.0))
    throw Error("p must be in [0, 1], got " + std::to_string(p));
  DType dt = a.getDType("dtype");
  if (!isFloat(dt))
    throw Error("dtype must be f32 or f64");
  const Ints &shape = a.getInts("shape");
  requirePositiveList(shape, shape.size(), "shape", /*allowZero=*/true);
  return {dt, shape};
}

static TensorType dropoutRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  requireCounter(in[1]);
  double rate = a.getFloat("rate");
  if (!(rate >= 0.0 && rate < 1.0))
    throw Error("rate must be in [0, 1), got " + std::to_string(rate));
  return in[0];
}

static TensorType batchNormRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "input");
  if (in[0].rank() != 2 && in[0].rank() != 4)
    throw Error("input must be [N, C] or [N, C, H, W], got " + in[0].str());
  TensorType channel{in[0].dtype, {in[0].shape[1]}};
  static const char *names[] = {"gamma", "beta", "running_mean", "running_var"};
  for (int i = 1; i < 5; ++i)
    if (in[i] != channel)
      throw Error(std::string(names[i - 1]) + " must be " + channel.str() +
                  ", got " + in[i].str());
  if (!(a.getFloat("eps") > 0.0))
    throw Error("eps must be positive");
  double m = a.getFloat("momentum");
  if (!(m >= 0.0 && m <= 1.0))
    throw Error("momentum must be in [0, 1]");
  return in[0];
}

// Normalizes over the axes [axis, rank) of x; scale and shift (optional, in
// that order) have the normalized axes' shape.
static TensorType layerNormRule(std::span<const TensorType> in, const Attrs &a) {
  const TensorType &x = in[0];
  requireFloat(x, "input");
  if (x.rank() == 0)
    throw Error("layer_norm needs an input of rank >= 1");
  int64_t axis = normalizeAxis(a.getInt("axis"), x.rank());
  if (!(a.getFloat("eps") > 0.0))
    throw Error("eps must be positive");
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  for (size_t i = 1; i < in.size(); ++i) {
    const char *what = i == 1 ? "scale" : "shift";
    requireSameDType(x, in[i]);
    if (in[i].shape != normalized)
      throw Error(std::string(what) + " " + in[i].str() +
                  " must have the normalized axes' shape " + shapeStr(normalized));
  }
  return x;
}

std::vector<OpDef> nnOps() {
  using F = OpFamily;
  return {
      {OpKind::Conv2d, F::NN, 2, 2, {"input", "weight"},
       {{"stride", AttrKind::Ints, Ints{1, 1}},
        {"padding", AttrKind::Ints, Ints{0, 0}},
        {"dilation", AttrKind::Ints, Ints{1, 1}}},
       conv2dRule,
       "2-D cross-correlation, NCHW input and OIHW weight, zero padding"},
      {OpKind::ConvTranspose2d, F::NN, 2, 2, {"input", "weight"},
       {{"stride", AttrKind::Ints, Ints{1, 1}},
        {"padding", AttrKind::Ints, Ints{0, 0}},
        {"dilation", AttrKind::Ints, Ints{1, 1}},
        {"output_padding", AttrKind::Ints, Ints{0, 0}}},
       convTranspose2dRule,
       "transposed convolution (conv2d's adjoint in its input): [N, O, OH, OW] and weight [O, C, KH, KW] -> [N, C, H, W]"},
      {OpKind::Conv2dWeightGrad, F::NN, 2, 2, {"input", "output_grad"},
       {{"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{1, 1}},
        {"padding", AttrKind::Ints, Ints{0, 0}},
        {"dilation", AttrKind::Ints, Ints{1, 1}}},
       conv2dWeightGradRule,
       "conv2d's adjoint in its weight: input [N, C, H, W] and output_grad [N, O, OH, OW] -> [O, C, KH, KW]"},
      {OpKind::MaxPool2d, F::NN, 1, 1, {"input"},
       {{"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{}},
        {"padding", AttrKind::Ints, Ints{0, 0}}},
       pool2dRule, "max over windows (padding never wins; default stride = kernel)"},
      {OpKind::MaxPool2dGrad, F::NN, 2, 2, {"input", "output_grad"},
       {{"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{}},
        {"padding", AttrKind::Ints, Ints{0, 0}}},
       maxPool2dGradRule,
       "max_pool2d's adjoint: each window's output_grad shared equally by the input taps that are its maximum (all of them NaN if the window holds a NaN)"},
      {OpKind::AvgPool2d, F::NN, 1, 1, {"input"},
       {{"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{}},
        {"padding", AttrKind::Ints, Ints{0, 0}}},
       pool2dRule,
       "mean over windows, padding counted as zeros (default stride = kernel)"},
      {OpKind::Unfold2d, F::NN, 1, 1, {"input"},
       {{"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{1, 1}},
        {"padding", AttrKind::Ints, Ints{0, 0}},
        {"dilation", AttrKind::Ints, Ints{1, 1}},
        {"pad_value", AttrKind::Float, 0.0}},
       unfold2dRule,
       "im2col: [N, C, H, W] -> [N, C*KH*KW, OH*OW], each window a column (padding reads pad_value)"},
      {OpKind::Fold2d, F::NN, 1, 1, {"input"},
       {{"output", AttrKind::Ints, std::nullopt},
        {"kernel", AttrKind::Ints, std::nullopt},
        {"stride", AttrKind::Ints, Ints{1, 1}},
        {"padding", AttrKind::Ints, Ints{0, 0}},
        {"dilation", AttrKind::Ints, Ints{1, 1}}},
       fold2dRule,
       "col2im: [N, C*KH*KW, L] -> [N, C, H, W], overlapping windows summed, padding dropped"},
      {OpKind::Bernoulli, F::NN, 1, 1, {"counter"},
       {{"shape", AttrKind::Ints, std::nullopt},
        {"p", AttrKind::Float, std::nullopt},
        {"seed", AttrKind::Int, int64_t{0}},
        {"dtype", AttrKind::DType, DType::f32}},
       bernoulliRule,
       "mask of 1 with probability p, else 0, from a counter-based generator of (seed, counter, index)"},
      {OpKind::Dropout, F::NN, 2, 2, {"input", "counter"},
       {{"rate", AttrKind::Float, std::nullopt},
        {"seed", AttrKind::Int, int64_t{0}}},
       dropoutRule,
       "train: zero each element with probability rate, scale the rest by 1/(1-rate); eval: identity"},
      {OpKind::BatchNorm, F::NN, 5, 5,
       {"input", "gamma", "beta", "running_mean", "running_var"},
       {{"eps", AttrKind::Float, 1e-5}, {"momentum", AttrKind::Float, 0.1}},
       batchNormRule,
       "per-channel (axis 1) normalization; train: batch statistics and running-statistic updates; eval: running statistics"},
      {OpKind::LayerNorm, F::NN, 1, 3, {"input", "scale", "shift"},
       {{"axis", AttrKind::Int, int64_t{-1}}, {"eps", AttrKind::Float, 1e-5}},
       layerNormRule,
       "(x - mean) / sqrt(var + eps) over the axes from `axis` on, then * scale + shift (both optional)"},
  };
}

} // namespace chainjit::ir::ops
