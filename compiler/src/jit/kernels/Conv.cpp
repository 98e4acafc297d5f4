// conv2d, unfold2d and fold2d: im2col, col2im, and convolution as im2col
// followed by one GEMM per image (OpenBLAS), the way Caffe and PyTorch's CPU
// path do it, or as a direct convolution (DirectConv.h) where that measures
// faster on the machine (ConvChoice.h). Window geometry and the column
// layout: WindowGeometry.h.
#include "jit/kernels/Blas.h"
#include "jit/kernels/ConvChoice.h"
#include "jit/kernels/DirectConv.h"
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

// A 1x1 kernel with unit stride and no padding reads the image itself as
// its column matrix: no im2col, no scratch.
bool columnsAreImage(const Window &g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// params of cj_conv2d_{f32,f64}: the window (WindowGeometry.h), then [14] O
// output channels, [15] the kernel (ConvKernel), [16] the direct kernel's
// image slots (direct::slotsFor; 1 for GEMM). operands: {input [N, C, H,
// W], weight [O, C, KH, KW]}; result [N, O, OH, OW]. scratch (GEMM):
// C*KH*KW*OH*OW elements (one image's columns), none when columnsAreImage;
// out[n] = weight [O, C*KH*KW] x columns(input[n]) [C*KH*KW, OH*OW].
// scratch (direct): direct::scratchElements.
template <typename T>
int32_t conv2d(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const Window g = readWindow(p);
  const int64_t outChannels = p[kWindowParams];
  const T *x = static_cast<const T *>(operands[0]);
  const T *weight = static_cast<const T *>(operands[1]);
  T *y = static_cast<T *>(result);
  if (p[kWindowParams + 1] == int64_t(ConvKernel::Direct)) {
    direct::conv2d(x, weight, g, outChannels, p[kWindowParams + 2], static_cast<T *>(scratch), y);
    return kJitOk;
  }
  const int64_t rows = g.c * g.kh * g.kw, windows = g.oh * g.ow, plane = g.c * g.h * g.w;
  for (int64_t n = 0; n < g.n; ++n) {
    const T *columns = x + n * plane;
    if (!columnsAreImage(g)) {
      im2col(x + n * plane, g, T(0), static_cast<T *>(scratch));
      columns = static_cast<const T *>(scratch);
    }
    gemmRowMajor(false, false, outChannels, windows, rows, weight, columns,
                 y + n * outChannels * windows);
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

LibraryCall lowerConv2d(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &w = g.type(n.operands[1]).shape;
  LibraryCall call{typedSymbol("conv2d", n.type.dtype),
                   windowParams(g.type(n.operands[0]).shape, {w[2], w[3]},
                                n.attrs.getInts("stride"), n.attrs.getInts("padding"),
                                n.attrs.getInts("dilation")),
                   0};
  call.params.push_back(w[0]);
  const Window win = readWindow(call.params.data());
  const ConvKernel kernel = chooseConvKernel(win, w[0], n.type.dtype);
  call.params.push_back(int64_t(kernel));
  const bool f32 = n.type.dtype == ir::DType::f32;
  const int64_t slots = kernel == ConvKernel::Gemm ? 1
                        : f32                      ? direct::slotsFor<float>(win)
                                                   : direct::slotsFor<double>(win);
  call.params.push_back(slots);
  if (kernel == ConvKernel::Direct)
    call.scratchBytes = (f32 ? direct::scratchElements<float>(win, w[0], slots)
                             : direct::scratchElements<double>(win, w[0], slots)) *
                        static_cast<int64_t>(ir::dtypeSize(n.type.dtype));
  else if (!columnsAreImage(win))
    call.scratchBytes = win.c * win.kh * win.kw * win.oh * win.ow *
                        static_cast<int64_t>(ir::dtypeSize(n.type.dtype));
  return call;
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
      {ir::OpKind::Unfold2d, lowerUnfold2d},
      {ir::OpKind::Fold2d, lowerFold2d},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_conv2d, conv2d)
CJ_DEFINE_FLOAT_KERNELS(cj_unfold2d, unfold2d)
CJ_DEFINE_FLOAT_KERNELS(cj_fold2d, fold2d)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::convSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_conv2d), CJ_FLOAT_SYMBOLS(cj_unfold2d),
          CJ_FLOAT_SYMBOLS(cj_fold2d)};
}
