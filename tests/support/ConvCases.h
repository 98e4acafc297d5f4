// Convolution geometries that the kernel tests run (JitConvKernelTest,
// JitConvAdjointTest): the Fashion CNN's two layers and the edges of the
// direct and GEMM kernels; and the output_padding that takes a layer's
// windows back onto its input's size (as conv2d's rule computes it).
#pragma once

#include "chainjit/ir/Attr.h"
#include "chainjit/ir/Types.h"

namespace chainjit::testing {

struct ConvCase {
  ir::Shape x, w; // input [N, C, H, W], weight [O, C, KH, KW]
  ir::Ints stride, padding, dilation;
};

inline const ConvCase kConvCases[] = {
    {{3, 1, 28, 28}, {8, 1, 5, 5}, {1, 1}, {2, 2}, {1, 1}},  // examples/fashion_cnn.cj layer 1
    {{3, 8, 14, 14}, {16, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}}, // and layer 2
    {{2, 3, 7, 6}, {4, 3, 3, 2}, {1, 1}, {0, 0}, {1, 1}},    // odd widths, O < the block
    {{2, 3, 7, 6}, {4, 3, 3, 2}, {2, 1}, {1, 2}, {2, 1}},    // stride, padding, dilation
    {{1, 2, 9, 37}, {11, 2, 3, 3}, {2, 3}, {1, 0}, {1, 1}},  // strided rows, O > the block
    {{3, 5, 4, 19}, {9, 5, 1, 1}, {1, 1}, {0, 0}, {1, 1}},   // 1x1 (GEMM reads the image)
    {{1, 2, 5, 5}, {3, 2, 5, 5}, {1, 1}, {4, 4}, {1, 1}},    // more padding than image
    {{7, 2, 9, 10}, {3, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}},   // 7 images over several slots
    {{2, 2, 8, 9}, {3, 2, 2, 2}, {1, 1}, {1, 1}, {1, 1}},    // padding > dilation*(K-1)/2
    {{2, 2, 6, 20}, {5, 2, 2, 7}, {1, 1}, {0, 3}, {1, 1}},   // 7 taps a row: groups of 5 and 2
    {{1, 3, 5, 17}, {9, 3, 2, 6}, {1, 2}, {1, 0}, {1, 1}},   // 6, strided: a group of 5, 1 alone
};

// conv_transpose2d's output_padding from windows [N, O, OH, OW] back onto an
// image [N, C, H, W] under a weight [O, C, KH, KW].
inline ir::Ints outputPaddingFor(const ir::Shape &image, const ir::Shape &weight,
                                 const ir::Shape &windows, const ir::Ints &stride,
                                 const ir::Ints &padding, const ir::Ints &dilation) {
  ir::Ints op(2);
  for (int i = 0; i < 2; ++i)
    op[i] = image[2 + i] + 2 * padding[i] - dilation[i] * (weight[2 + i] - 1) - 1 -
            (windows[2 + i] - 1) * stride[i];
  return op;
}

} // namespace chainjit::testing
