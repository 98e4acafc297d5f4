// Data-movement kernels: transpose, slice, pad and concat. They copy elements
// without arithmetic, so one kernel per element width serves every dtype
// (bool 1 byte, i32 and f32 4, f64 8) and values pass through bit for bit.
//
// transpose and slice are one gather: the dense result reads the operand at
// an offset plus per-axis strides. pad is the matching scatter: the dense
// operand is written into a zeroed result at an offset plus strides. The
// lowering merges axes that are contiguous on both sides, so a slice of whole
// rows or a transpose of blocks becomes a few long copies; a gather that
// really transposes copies square tiles, so that both sides stay in cache.
#include "jit/kernels/KernelSupport.h"

#include <algorithm>
#include <cstring>

namespace chainjit::compiler::jit::kernels {

namespace {

// After merging, more axes than this cannot occur for any realistic tensor;
// the lowering checks it so the kernel's odometer can live on the stack.
constexpr int64_t kMaxCopyRank = 32;

// The side of the square tiles of a transposing gather: 32 x 32 elements of
// 8 bytes read 32 cache lines, which L1 holds while the tile is written.
constexpr int64_t kTile = 32;

// A gather whose last result axis strides through the operand while result
// axis `t` walks it contiguously: a transpose of the (t, last) plane. Row by
// row, every read would touch a new cache line; tile by tile, each line
// read is used for a whole tile column. Arguments as in stridedCopy.
template <typename T>
void tiledGather(const T *src, T *dst, int64_t rank, int64_t offset,
                 const int64_t *shape, const int64_t *stride, int64_t t) {
  int64_t denseStride[kMaxCopyRank];
  denseStride[rank - 1] = 1;
  for (int64_t d = rank - 2; d >= 0; --d)
    denseStride[d] = denseStride[d + 1] * shape[d + 1];
  const int64_t len = shape[rank - 1], step = stride[rank - 1];
  const int64_t extent = shape[t], rowStride = denseStride[t];
  int64_t planes = 1; // the (t, last) planes: every other axis
  for (int64_t d = 0; d + 1 < rank; ++d)
    planes *= d == t ? 1 : shape[d];
  int64_t pos[kMaxCopyRank] = {};
  int64_t strided = offset, dense = 0; // where the current plane starts
  for (int64_t plane = 0; plane < planes; ++plane) {
    for (int64_t a0 = 0; a0 < extent; a0 += kTile)
      for (int64_t j0 = 0; j0 < len; j0 += kTile) {
        const int64_t a1 = std::min(a0 + kTile, extent), j1 = std::min(j0 + kTile, len);
        for (int64_t a = a0; a < a1; ++a) {
          const T *in = src + strided + a; // stride[t] == 1
          T *out = dst + dense + a * rowStride;
          for (int64_t j = j0; j < j1; ++j)
            out[j] = in[j * step];
        }
      }
    for (int64_t d = rank - 2; d >= 0; --d) { // the odometer, skipping t
      if (d == t)
        continue;
      strided += stride[d];
      dense += denseStride[d];
      if (++pos[d] < shape[d])
        break;
      strided -= stride[d] * shape[d];
      dense -= denseStride[d] * shape[d];
      pos[d] = 0;
    }
  }
}

// params of the strided copies (symbols cj_gather_b{1,4,8} and
// cj_scatter_b{1,4,8}, the width in bytes per element):
//   [0] rank r >= 1 of the dense side (the result of a gather, the operand
//       of a scatter), [1] offset in elements into the strided side,
//   [2] result elements to zero first (pad only),
//   [3 .. 3+r) the dense side's shape, [3+r .. 3+2r) for each of its axes
//   the stride in elements on the strided side.
// operands: {x}.
template <typename T, bool Scatter>
int32_t stridedCopy(void *const *operands, void *result, const int64_t *p, void *) {
  const T *src = static_cast<const T *>(operands[0]);
  T *dst = static_cast<T *>(result);
  const int64_t rank = p[0], *shape = p + 3, *stride = p + 3 + rank;
  if (p[2] > 0)
    std::memset(dst, 0, static_cast<size_t>(p[2]) * sizeof(T));
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d)
    rows *= shape[d];
  const int64_t len = shape[rank - 1], step = stride[rank - 1];
  if (rows == 0 || len == 0)
    return kJitOk;
  if (!Scatter && step != 1)
    for (int64_t t = rank - 2; t >= 0; --t)
      if (stride[t] == 1 && shape[t] > 1) {
        tiledGather(src, dst, rank, p[1], shape, stride, t);
        return kJitOk;
      }
  int64_t pos[kMaxCopyRank] = {};
  int64_t strided = p[1], dense = 0; // where the current row starts
  for (int64_t row = 0; row < rows; ++row, dense += len) {
    if constexpr (Scatter) {
      T *out = dst + strided;
      if (step == 1)
        std::memcpy(out, src + dense, static_cast<size_t>(len) * sizeof(T));
      else
        for (int64_t j = 0; j < len; ++j)
          out[j * step] = src[dense + j];
    } else {
      const T *in = src + strided;
      if (step == 1)
        std::memcpy(dst + dense, in, static_cast<size_t>(len) * sizeof(T));
      else
        for (int64_t j = 0; j < len; ++j)
          dst[dense + j] = in[j * step];
    }
    // Advance the odometer over the outer axes (no div/mod per element).
    for (int64_t d = rank - 2; d >= 0; --d) {
      strided += stride[d];
      if (++pos[d] < shape[d])
        break;
      strided -= stride[d] * shape[d];
      pos[d] = 0;
    }
  }
  return kJitOk;
}

// params of cj_concat (byte-generic): [0] operand count K, [1] outer (the
// product of the axes before the concatenated one), [2 .. 2+K) the bytes of
// each operand's block per outer index (its extent along the axis times the
// inner axes times the element size). operands: the K inputs.
int32_t concatBytes(void *const *operands, void *result, const int64_t *p, void *) {
  const int64_t count = p[0], outer = p[1], *block = p + 2;
  auto *dst = static_cast<unsigned char *>(result);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < count; ++k) {
      if (block[k] == 0) // an empty operand may have no storage at all
        continue;
      const auto *src = static_cast<const unsigned char *>(operands[k]);
      std::memcpy(dst, src + o * block[k], static_cast<size_t>(block[k]));
      dst += block[k];
    }
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

std::string widthSymbol(std::string_view base, ir::DType dtype) {
  return "cj_" + std::string(base) + "_b" + std::to_string(ir::dtypeSize(dtype));
}

// The strided-copy params for a dense `shape` whose element at multi-index
// i sits at offset + sum_d i[d] * strides[d] on the other side. Axes of
// extent 1 are dropped and an axis is merged into the one before it when
// the two are contiguous on the strided side (as they are on the dense one).
LibraryCall stridedCopyCall(const Graph &g, NodeId id, std::string symbol,
                            const ir::Shape &shape, const std::vector<int64_t> &strides,
                            int64_t offset, int64_t zeroFill) {
  std::vector<int64_t> s, st;
  bool empty = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    empty = empty || shape[d] == 0;
    if (shape[d] == 1)
      continue;
    if (!s.empty() && st.back() == strides[d] * shape[d]) {
      s.back() *= shape[d];
      st.back() = strides[d];
    } else {
      s.push_back(shape[d]);
      st.push_back(strides[d]);
    }
  }
  if (empty) // nothing to copy (the result may still need its zeros)
    s.assign(1, 0), st.assign(1, 1);
  if (s.empty()) // a single element
    s.assign(1, 1), st.assign(1, 1);
  if (static_cast<int64_t>(s.size()) > kMaxCopyRank)
    failLowering(g, id, "more than " + std::to_string(kMaxCopyRank) +
                            " non-contiguous axes to copy");
  LibraryCall call{std::move(symbol), {static_cast<int64_t>(s.size()), offset, zeroFill}, 0};
  call.params.insert(call.params.end(), s.begin(), s.end());
  call.params.insert(call.params.end(), st.begin(), st.end());
  return call;
}

// Result axis i reads operand axis perm[i] (default: reversed).
LibraryCall lowerTranspose(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &in = g.type(n.operands[0]).shape;
  ir::Ints perm = n.attrs.getInts("perm");
  if (perm.empty())
    for (auto d = static_cast<int64_t>(in.size()) - 1; d >= 0; --d)
      perm.push_back(d);
  std::vector<int64_t> inStrides = ir::stridesOf(in), strides;
  for (int64_t axis : perm)
    strides.push_back(inStrides[static_cast<size_t>(axis)]);
  return stridedCopyCall(g, id, widthSymbol("gather", n.type.dtype), n.type.shape,
                         strides, 0, 0);
}

// Result index o[d] reads operand index starts[d] + o[d] * strides[d].
LibraryCall lowerSlice(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &in = g.type(n.operands[0]).shape;
  const ir::Ints &starts = n.attrs.getInts("starts");
  ir::Ints step = n.attrs.getInts("strides");
  if (step.empty())
    step.assign(in.size(), 1);
  std::vector<int64_t> inStrides = ir::stridesOf(in), strides;
  int64_t offset = 0;
  for (size_t d = 0; d < in.size(); ++d) {
    strides.push_back(inStrides[d] * step[d]);
    offset += starts[d] * inStrides[d];
  }
  return stridedCopyCall(g, id, widthSymbol("gather", n.type.dtype), n.type.shape,
                         strides, offset, 0);
}

// Operand index i[d] lands at low[d] + i[d] * (interior[d] + 1); the rest of
// the result is zero.
LibraryCall lowerPad(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::TensorType &in = g.type(n.operands[0]);
  const ir::Ints &low = n.attrs.getInts("low");
  ir::Ints interior = n.attrs.getInts("interior");
  if (interior.empty())
    interior.assign(in.shape.size(), 0);
  std::vector<int64_t> outStrides = ir::stridesOf(n.type.shape), strides;
  int64_t offset = 0;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    strides.push_back(outStrides[d] * (interior[d] + 1));
    offset += low[d] * outStrides[d];
  }
  int64_t zeroFill = n.type.numel() == in.numel() ? 0 : n.type.numel();
  return stridedCopyCall(g, id, widthSymbol("scatter", n.type.dtype), in.shape,
                         strides, offset, zeroFill);
}

LibraryCall lowerConcat(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  auto axis = static_cast<size_t>(normalizeAxis(n.attrs.getInt("axis"), n.type.rank()));
  AxisSplit split = splitAtAxis(n.type.shape, static_cast<int64_t>(axis));
  auto elem = static_cast<int64_t>(ir::dtypeSize(n.type.dtype));
  LibraryCall call{"cj_concat", {static_cast<int64_t>(n.operands.size()), split.outer}, 0};
  for (NodeId x : n.operands)
    call.params.push_back(g.type(x).shape[axis] * split.inner * elem);
  return call;
}

} // namespace

std::vector<LibraryKernel> movementKernels() {
  return {
      {ir::OpKind::Transpose, lowerTranspose},
      {ir::OpKind::Slice, lowerSlice},
      {ir::OpKind::Pad, lowerPad},
      {ir::OpKind::Concat, lowerConcat},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_KERNEL(cj_gather_b1, stridedCopy<uint8_t, false>)
CJ_DEFINE_KERNEL(cj_gather_b4, stridedCopy<uint32_t, false>)
CJ_DEFINE_KERNEL(cj_gather_b8, stridedCopy<uint64_t, false>)
CJ_DEFINE_KERNEL(cj_scatter_b1, stridedCopy<uint8_t, true>)
CJ_DEFINE_KERNEL(cj_scatter_b4, stridedCopy<uint32_t, true>)
CJ_DEFINE_KERNEL(cj_scatter_b8, stridedCopy<uint64_t, true>)
CJ_DEFINE_KERNEL(cj_concat, concatBytes)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::movementSymbols() {
  return {CJ_SYMBOL(cj_gather_b1),  CJ_SYMBOL(cj_gather_b4),  CJ_SYMBOL(cj_gather_b8),
          CJ_SYMBOL(cj_scatter_b1), CJ_SYMBOL(cj_scatter_b4), CJ_SYMBOL(cj_scatter_b8),
          CJ_SYMBOL(cj_concat)};
}
