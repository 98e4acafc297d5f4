// conv2d and its two adjoints (conv_transpose2d, conv2d_weight_grad),
// unfold2d and fold2d: im2col, col2im, and each pass of a convolution as
// im2col/col2im around one GEMM per image (OpenBLAS), the way Caffe and
// PyTorch's CPU path do it, or as a direct kernel (DirectConv.h,
// DirectWeightGrad.h) where that measures faster on the machine
// (ConvChoice.h). Params, slots and scratch of the three passes:
// ConvPlan.h; window geometry and the column layout: WindowGeometry.h.
#include "jit/kernels/Blas.h"
#include "jit/kernels/ConvChoice.h"
#include "jit/kernels/ConvPlan.h"
#include "jit/kernels/KernelSupport.h"
#include "jit/kernels/ParallelItems.h"
#include "jit/kernels/WindowGeometry.h"

#include <algorithm>

namespace chainjit::compiler::jit::kernels {

namespace {

// columns [C*KH*KW, OH*OW] of one image x [C, H, W]; taps in the padding
// read padValue.
template <typename T>
void im2col(const T *x, const Window &g, T padValue, T *columns) {
  forEachTapRow(g, [&](int64_t column, int64_t image, bool inside, TapRange xs) {
    T *out = columns + column;
    if (!inside) {
      std::fill(out, out + g.ow, padValue);
      return;
    }
    std::fill(out, out + xs.lo, padValue);
    for (int64_t ox = xs.lo; ox < xs.hi; ++ox)
      out[ox] = x[image + ox * g.sw];
    std::fill(out + xs.hi, out + g.ow, padValue);
  });
}

// The adjoint: every column entry is added to the image element it was read
// from; entries read from the padding are dropped. image must start zeroed.
template <typename T>
void col2im(const T *columns, const Window &g, T *image) {
  forEachTapRow(g, [&](int64_t column, int64_t at, bool inside, TapRange xs) {
    if (!inside)
      return;
    const T *in = columns + column;
    for (int64_t ox = xs.lo; ox < xs.hi; ++ox)
      image[at + ox * g.sw] += in[ox];
  });
}

// The three passes' kernels take ConvPlan.h's params. scratch: GEMM, one
// image's columns (none when columnsAreImage); direct, the kernel's own.

// cj_conv2d: operands {input [N, C, H, W], weight [O, C, KH, KW]}, and with
// the BiasRelu epilogue the bias [O]; result [N, O, OH, OW]; out[n] =
// weight [O, C*KH*KW] x columns(input[n]), then the epilogue.
template <typename T>
int32_t conv2d(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const Window g = readWindow(p);
  const int64_t outChannels = p[kWindowParams];
  const T *x = static_cast<const T *>(operands[0]);
  const T *weight = static_cast<const T *>(operands[1]);
  const T *bias = p[kConvEpilogueParam] == int64_t(ConvEpilogue::BiasRelu)
                      ? static_cast<const T *>(operands[2])
                      : nullptr;
  T *y = static_cast<T *>(result);
  if (p[kWindowParams + 1] == int64_t(ConvKernel::Direct)) {
    direct::conv2d(x, weight, g, outChannels, p[kWindowParams + 2], static_cast<T *>(scratch), y,
                   bias);
    return kJitOk;
  }
  const int64_t rows = g.c * g.kh * g.kw, windows = g.oh * g.ow, plane = g.c * g.h * g.w;
  for (int64_t n = 0; n < g.n; ++n) {
    const T *columns = x + n * plane;
    if (!columnsAreImage(g)) {
      im2col(x + n * plane, g, T(0), static_cast<T *>(scratch));
      columns = static_cast<const T *>(scratch);
    }
    T *yn = y + n * outChannels * windows;
    gemmRowMajor(false, false, outChannels, windows, rows, weight, columns, yn);
    if (bias) // while the image's output is in cache
      for (int64_t o = 0; o < outChannels; ++o)
        for (int64_t i = 0; i < windows; ++i)
          direct::biasRelu(yn[o * windows + i], bias[o]);
  }
  return kJitOk;
}

// cj_conv_transpose2d: operands {dy [N, O, OH, OW], weight [O, C, KH, KW]};
// result dx [N, C, H, W]. GEMM: dx[n] = col2im(weight^T x dy[n]). Direct
// (unit strides, inputGradIsConv): a conv2d of dy with the weight flipped
// and transposed, which the scratch holds first.
template <typename T>
int32_t convTranspose2d(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const Window g = readWindow(p);
  const int64_t outChannels = p[kWindowParams], taps = g.c * g.kh * g.kw;
  const T *dy = static_cast<const T *>(operands[0]);
  const T *weight = static_cast<const T *>(operands[1]);
  T *dx = static_cast<T *>(result), *s = static_cast<T *>(scratch);
  if (p[kWindowParams + 1] == int64_t(ConvKernel::Direct)) {
    for (int64_t o = 0; o < outChannels; ++o) // s[c, o, KH-1-i, KW-1-j] = weight[o, c, i, j]
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j)
            s[((c * outChannels + o) * g.kh + g.kh - 1 - i) * g.kw + g.kw - 1 - j] =
                weight[((o * g.c + c) * g.kh + i) * g.kw + j];
    direct::conv2d(dy, s, inputGradWindow(g, outChannels), g.c, p[kWindowParams + 2],
                   s + outChannels * taps, dx);
    return kJitOk;
  }
  const int64_t windows = g.oh * g.ow, plane = g.c * g.h * g.w;
  for (int64_t n = 0; n < g.n; ++n) {
    T *image = dx + n * plane;
    T *columns = columnsAreImage(g) ? image : s;
    gemmRowMajor(true, false, taps, windows, outChannels, weight, dy + n * outChannels * windows,
                 columns);
    if (!columnsAreImage(g)) {
      std::fill(image, image + plane, T(0));
      col2im(columns, g, image);
    }
  }
  return kJitOk;
}

// cj_conv2d_weight_grad: operands {input [N, C, H, W], dy [N, O, OH, OW]};
// result dw [O, C, KH, KW]. GEMM: dw = sum over n of dy[n] x
// columns(input[n])^T; direct: DirectWeightGrad.h.
template <typename T>
int32_t conv2dWeightGrad(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const Window g = readWindow(p);
  const int64_t outChannels = p[kWindowParams], taps = g.c * g.kh * g.kw;
  const T *x = static_cast<const T *>(operands[0]);
  const T *dy = static_cast<const T *>(operands[1]);
  T *dw = static_cast<T *>(result), *s = static_cast<T *>(scratch);
  if (p[kWindowParams + 1] == int64_t(ConvKernel::Direct)) {
    wgrad::weightGrad(x, dy, g, outChannels, p[kWindowParams + 2], s, dw);
    return kJitOk;
  }
  const int64_t windows = g.oh * g.ow, plane = g.c * g.h * g.w;
  std::fill(dw, dw + outChannels * taps, T(0));
  for (int64_t n = 0; n < g.n; ++n) {
    const T *columns = x + n * plane;
    if (!columnsAreImage(g)) {
      im2col(x + n * plane, g, T(0), s);
      columns = s;
    }
    gemmAccumulate(false, true, outChannels, taps, windows, dy + n * outChannels * windows, columns,
                   dw);
  }
  return kJitOk;
}

// params of cj_unfold2d_{f32,f64}: the window, then [14] pad_value (the bits
// of a double). operands: {input [N, C, H, W]}; result [N, C*KH*KW, OH*OW].
template <typename T>
int32_t unfold2d(void *const *operands, void *result, const int64_t *p, void *) {
  const Window g = readWindow(p);
  const T padValue = static_cast<T>(paramDouble(p[kWindowParams]));
  const T *x = static_cast<const T *>(operands[0]);
  T *y = static_cast<T *>(result);
  const int64_t columns = g.c * g.kh * g.kw * g.oh * g.ow, plane = g.c * g.h * g.w;
  forItems(g.n, [&](int64_t begin, int64_t end) { // images are independent
    for (int64_t n = begin; n < end; ++n)
      im2col(x + n * plane, g, padValue, y + n * columns);
  });
  return kJitOk;
}

// params of cj_fold2d_{f32,f64}: the window of the result image.
// operands: {columns [N, C*KH*KW, OH*OW]}; result [N, C, H, W].
template <typename T>
int32_t fold2d(void *const *operands, void *result, const int64_t *p, void *) {
  const Window g = readWindow(p);
  const T *x = static_cast<const T *>(operands[0]);
  T *y = static_cast<T *>(result);
  const int64_t columns = g.c * g.kh * g.kw * g.oh * g.ow, plane = g.c * g.h * g.w;
  forItems(g.n, [&](int64_t begin, int64_t end) { // each image its own output
    std::fill(y + begin * plane, y + end * plane, T(0));
    for (int64_t n = begin; n < end; ++n)
      col2im(x + n * columns, g, y + n * plane);
  });
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

// The window params of a node whose image is `image` and whose kernel,
// stride, padding and dilation are attributes (unfold2d, fold2d).
std::vector<int64_t> attrWindow(const ir::Node &n, const ir::Shape &image) {
  return windowParams(image, n.attrs.getInts("kernel"), n.attrs.getInts("stride"),
                      n.attrs.getInts("padding"), n.attrs.getInts("dilation"));
}

// The call of one pass of a layer whose forward conv2d has input `image`
// [N, C, H, W], weight taps `kernel` and `outChannels` output channels.
LibraryCall lowerConvPass(const Graph &g, NodeId id, ConvPass pass, const char *name,
                          const ir::Shape &image, const ir::Ints &kernel, int64_t outChannels) {
  const ir::Node &n = g.node(id);
  LibraryCall call{typedSymbol(name, n.type.dtype),
                   windowParams(image, kernel, n.attrs.getInts("stride"),
                                n.attrs.getInts("padding"), n.attrs.getInts("dilation")),
                   0};
  const Window win = readWindow(call.params.data());
  const ConvKernel kernelWay = chooseConvKernel(pass, win, outChannels, n.type.dtype);
  const bool f32 = n.type.dtype == ir::DType::f32;
  const int64_t slots = f32 ? convSlots<float>(pass, kernelWay, win, outChannels)
                            : convSlots<double>(pass, kernelWay, win, outChannels);
  call.params.insert(call.params.end(),
                     {outChannels, int64_t(kernelWay), slots, int64_t(ConvEpilogue::None)});
  call.scratchBytes =
      (f32 ? convScratchElements<float>(pass, kernelWay, win, outChannels, slots)
           : convScratchElements<double>(pass, kernelWay, win, outChannels, slots)) *
      static_cast<int64_t>(ir::dtypeSize(n.type.dtype));
  return call;
}

LibraryCall lowerConv2d(const Graph &g, NodeId id) { // conv2d(x, w)
  const ir::Node &n = g.node(id);
  const ir::Shape &w = g.type(n.operands[1]).shape;
  return lowerConvPass(g, id, ConvPass::Forward, "conv2d", g.type(n.operands[0]).shape,
                       {w[2], w[3]}, w[0]);
}
LibraryCall lowerConvTranspose2d(const Graph &g, NodeId id) { // (dy, w) -> dx
  const ir::Node &n = g.node(id);
  const ir::Shape &w = g.type(n.operands[1]).shape;
  return lowerConvPass(g, id, ConvPass::InputGrad, "conv_transpose2d", n.type.shape, {w[2], w[3]},
                       w[0]);
}
LibraryCall lowerConv2dWeightGrad(const Graph &g, NodeId id) { // (x, dy) -> dw
  const ir::Node &n = g.node(id);
  return lowerConvPass(g, id, ConvPass::WeightGrad, "conv2d_weight_grad",
                       g.type(n.operands[0]).shape, n.attrs.getInts("kernel"),
                       g.type(n.operands[1]).shape[1]);
}

LibraryCall lowerUnfold2d(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  LibraryCall call{typedSymbol("unfold2d", n.type.dtype),
                   attrWindow(n, g.type(n.operands[0]).shape), 0};
  call.params.push_back(paramBits(n.attrs.getFloat("pad_value")));
  return call;
}

LibraryCall lowerFold2d(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  return {typedSymbol("fold2d", n.type.dtype), attrWindow(n, n.type.shape), 0};
}

} // namespace

std::vector<LibraryKernel> convKernels() {
  return {
      {ir::OpKind::Conv2d, lowerConv2d},
      {ir::OpKind::ConvTranspose2d, lowerConvTranspose2d},
      {ir::OpKind::Conv2dWeightGrad, lowerConv2dWeightGrad},
      {ir::OpKind::Unfold2d, lowerUnfold2d},
      {ir::OpKind::Fold2d, lowerFold2d},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_conv2d, conv2d)
CJ_DEFINE_FLOAT_KERNELS(cj_conv_transpose2d, convTranspose2d)
CJ_DEFINE_FLOAT_KERNELS(cj_conv2d_weight_grad, conv2dWeightGrad)
CJ_DEFINE_FLOAT_KERNELS(cj_unfold2d, unfold2d)
CJ_DEFINE_FLOAT_KERNELS(cj_fold2d, fold2d)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::convSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_conv2d), CJ_FLOAT_SYMBOLS(cj_conv_transpose2d),
          CJ_FLOAT_SYMBOLS(cj_conv2d_weight_grad), CJ_FLOAT_SYMBOLS(cj_unfold2d),
          CJ_FLOAT_SYMBOLS(cj_fold2d)};
}
