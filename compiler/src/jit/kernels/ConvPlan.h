// Internal to the convolution kernels (Conv.cpp, ConvChoice.cpp): conv2d and
// its two adjoints as library kernels, the three passes of one layer
//
//   Forward     conv2d(x, w) -> y
//   InputGrad   conv_transpose2d(dy, w) -> dx (the adjoint in the input)
//   WeightGrad  conv2d_weight_grad(x, dy) -> dw (the adjoint in the weight)
//
// each run by im2col/col2im around OpenBLAS or by a direct kernel
// (DirectConv.h, DirectWeightGrad.h), which of the two measured per shape
// (ConvChoice.h). Here: the params the three kernels share, when the direct
// kernel applies, and the slots and scratch each way needs, in one place for
// the lowering and the measurement.
//
// params: [0, kWindowParams) the window of the layer's forward conv2d
// (WindowGeometry.h: its input [N, C, H, W], kernel, OH x OW windows,
// stride, padding, dilation), [14] O output channels, [15] the ConvKernel,
// [16] the direct kernel's slots (1 for GEMM), [17] the forward's
// ConvEpilogue (the adjoints': None).
#pragma once

#include "DirectConv.h"
#include "DirectWeightGrad.h"
#include "WindowGeometry.h"

#include <cstdint>

namespace chainjit::compiler::jit::kernels {

enum class ConvPass : int64_t { Forward = 0, InputGrad = 1, WeightGrad = 2 };
enum class ConvKernel : int64_t { Gemm = 0, Direct = 1 };
// What the forward does to each output before writing it: nothing, or
// relu(y + b[o]) with b the per-channel bias (operands[2]; the layer's bias
// add and activation, LoweringPlan.cpp's fuseConvEpilogues), computed as
// the add and relu loop would (direct::biasRelu).
enum class ConvEpilogue : int64_t { None = 0, BiasRelu = 1 };
inline constexpr int kConvEpilogueParam = kWindowParams + 3;

// A 1x1 kernel with unit stride and no padding reads the image itself as
// its column matrix: no im2col, no scratch.
inline bool columnsAreImage(const Window &g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// With unit strides the input adjoint is itself a convolution: dx = conv2d
// of dy [N, O, OH, OW] with the weight flipped in both taps and transposed
// ([C, O, KH, KW]), padded by dilation*(K-1) - padding, which must not be
// negative.
inline bool inputGradIsConv(const Window &g) {
  return g.sh == 1 && g.sw == 1 && g.dh * (g.kh - 1) >= g.ph && g.dw * (g.kw - 1) >= g.pw;
}
// The window of that convolution: dy as the image, dx's H x W as windows.
inline Window inputGradWindow(const Window &g, int64_t outChannels) {
  Window t = g;
  t.c = outChannels, t.h = g.oh, t.w = g.ow; // the image: dy
  t.oh = g.h, t.ow = g.w;                    // the windows: dx
  t.sh = t.sw = 1;
  t.ph = g.dh * (g.kh - 1) - g.ph, t.pw = g.dw * (g.kw - 1) - g.pw;
  return t;
}

inline bool directApplies(ConvPass pass, const Window &g) {
  return pass != ConvPass::InputGrad || inputGradIsConv(g);
}

// The direct kernel's slots (images split for threads); 1 for GEMM.
template <typename T>
int64_t convSlots(ConvPass pass, ConvKernel kernel, const Window &g, int64_t outChannels) {
  if (kernel == ConvKernel::Gemm)
    return 1;
  switch (pass) {
  case ConvPass::Forward:
    return direct::slotsFor<T>(g);
  case ConvPass::InputGrad:
    return direct::slotsFor<T>(inputGradWindow(g, outChannels));
  case ConvPass::WeightGrad:
    return wgrad::slotsFor(g);
  }
  return 1;
}

// Scratch elements of T. GEMM: one image's columns [C*KH*KW, OH*OW] (none
// when they are the image). Direct: the kernel's own; the input adjoint
// first holds the flipped weight.
template <typename T>
int64_t convScratchElements(ConvPass pass, ConvKernel kernel, const Window &g, int64_t outChannels,
                            int64_t slots) {
  const int64_t taps = g.c * g.kh * g.kw;
  if (kernel == ConvKernel::Gemm)
    return columnsAreImage(g) ? 0 : taps * g.oh * g.ow;
  switch (pass) {
  case ConvPass::Forward:
    return direct::scratchElements<T>(g, outChannels, slots);
  case ConvPass::InputGrad:
    return outChannels * taps +
           direct::scratchElements<T>(inputGradWindow(g, outChannels), g.c, slots);
  case ConvPass::WeightGrad:
    return wgrad::scratchElements<T>(g, outChannels, slots);
  }
  return 0;
}

} // namespace chainjit::compiler::jit::kernels
