// Library kernels of the indexing ops: gather, scatter_add, iota, one_hot.
// Every index is checked before anything is read or written through it: the
// first one out of range (row-major in the indices) is recorded in
// lastIndexFault() and the kernel returns kJitIndexOutOfRange, so the caller
// reports its value and position as the interpreter does.
//
// gather copies slices without arithmetic, so one kernel per element width
// serves every dtype (as the movement kernels do); scatter_add, iota and
// one_hot compute values and are typed.
#include "jit/kernels/IndexFault.h"
#include "jit/kernels/KernelSupport.h"

#include <cstring>
#include <type_traits>

extern "C" chainjit::compiler::jit::IndexFault *cj_index_fault() {
  thread_local chainjit::compiler::jit::IndexFault fault;
  return &fault;
}

namespace chainjit::compiler::jit {

namespace kernels {

namespace {

// The first of `n` indices outside [0, bound), recorded; true if all are in range.
bool indicesInRange(const int32_t *idx, int64_t n, int64_t bound) {
  for (int64_t j = 0; j < n; ++j)
    if (idx[j] < 0 || idx[j] >= bound) {
      lastIndexFault() = {idx[j], j};
      return false;
    }
  return true;
}

// params of cj_take_b{1,4,8} (gather; the width in bytes per element):
// [0] outer, [1] len, [2] inner: x's shape split around the axis, [3] n: the
// number of indices. operands: {x, i32 indices}; result [outer, n, inner]:
// result[o, j, :] = x[o, indices[j], :].
template <typename T>
int32_t take(void *const *operands, void *result, const int64_t *p, void *) {
  const T *x = static_cast<const T *>(operands[0]);
  const auto *idx = static_cast<const int32_t *>(operands[1]);
  const int64_t outer = p[0], len = p[1], inner = p[2], n = p[3];
  if (!indicesInRange(idx, n, len))
    return kJitIndexOutOfRange;
  if (outer * n * inner == 0)
    return kJitOk; // an empty result (its buffer may be no allocation)
  T *out = static_cast<T *>(result);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j, out += inner)
      std::memcpy(out, x + (o * len + idx[j]) * inner, static_cast<size_t>(inner) * sizeof(T));
  return kJitOk;
}

// i32 sums wrap around (two's complement), as the interpreter's do; adding
// as unsigned keeps that defined.
template <typename T> T wrappingAdd(T a, T b) {
  if constexpr (std::is_same_v<T, int32_t>)
    return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
  else
    return a + b;
}

// params of cj_scatter_add_{f32,f64,i32}: [0] outer, [1] size, [2] inner:
// the result's shape split around the axis, [3] n: the number of indices.
// operands: {updates [outer, n, inner], i32 indices}; result: zeros, then
// result[o, indices[j], :] += updates[o, j, :].
template <typename T>
int32_t scatterAdd(void *const *operands, void *result, const int64_t *p, void *) {
  const T *upd = static_cast<const T *>(operands[0]);
  const auto *idx = static_cast<const int32_t *>(operands[1]);
  const int64_t outer = p[0], size = p[1], inner = p[2], n = p[3];
  if (!indicesInRange(idx, n, size))
    return kJitIndexOutOfRange;
  if (outer * size * inner == 0)
    return kJitOk;
  T *out = static_cast<T *>(result);
  std::memset(out, 0, static_cast<size_t>(outer * size * inner) * sizeof(T));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j, upd += inner) {
      T *row = out + (o * size + idx[j]) * inner;
      for (int64_t i = 0; i < inner; ++i)
        row[i] = wrappingAdd(row[i], upd[i]);
    }
  return kJitOk;
}

// params of cj_iota_{f32,f64,i32}: [0] elements, [1] len, [2] inner: the
// result's extent along the axis and the product of the axes after it.
// operands: none; result[e] = (e / inner) % len.
template <typename T>
int32_t iota(void *const *, void *result, const int64_t *p, void *) {
  T *out = static_cast<T *>(result);
  const int64_t elements = p[0], len = p[1], inner = p[2];
  for (int64_t e = 0; e < elements; ++e)
    out[e] = static_cast<T>((e / inner) % len);
  return kJitOk;
}

// params of cj_one_hot_{f32,f64,i32}: [0] n: the number of indices,
// [1] depth. operands: {i32 indices}; result [n, depth]: 1 at each index.
template <typename T>
int32_t oneHot(void *const *operands, void *result, const int64_t *p, void *) {
  const auto *idx = static_cast<const int32_t *>(operands[0]);
  const int64_t n = p[0], depth = p[1];
  if (!indicesInRange(idx, n, depth))
    return kJitIndexOutOfRange;
  if (n == 0)
    return kJitOk;
  T *out = static_cast<T *>(result);
  std::memset(out, 0, static_cast<size_t>(n * depth) * sizeof(T));
  for (int64_t j = 0; j < n; ++j)
    out[j * depth + idx[j]] = T(1);
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

LibraryCall lowerGather(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::TensorType &x = g.type(n.operands[0]);
  AxisSplit s = splitAtAxis(x.shape, n.attrs.getInt("axis"));
  return {"cj_take_b" + std::to_string(ir::dtypeSize(x.dtype)),
          {s.outer, s.len, s.inner, g.type(n.operands[1]).numel()}, 0};
}

LibraryCall lowerScatterAdd(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  AxisSplit s = splitAtAxis(n.type.shape, n.attrs.getInt("axis"));
  return {typedSymbol("scatter_add", n.type.dtype),
          {s.outer, s.len, s.inner, g.type(n.operands[1]).numel()}, 0};
}

LibraryCall lowerIota(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  AxisSplit s = splitAtAxis(n.type.shape, n.attrs.getInt("axis"));
  return {typedSymbol("iota", n.type.dtype), {n.type.numel(), s.len, s.inner}, 0};
}

LibraryCall lowerOneHot(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  return {typedSymbol("one_hot", n.type.dtype),
          {g.type(n.operands[0]).numel(), n.attrs.getInt("depth")}, 0};
}

} // namespace

std::vector<LibraryKernel> indexKernels() {
  return {
      {ir::OpKind::Gather, lowerGather},
      {ir::OpKind::ScatterAdd, lowerScatterAdd},
      {ir::OpKind::Iota, lowerIota},
      {ir::OpKind::OneHot, lowerOneHot},
  };
}

} // namespace kernels
} // namespace chainjit::compiler::jit

#define CJ_DEFINE_TYPED_KERNELS(base, impl)                                    \
  CJ_DEFINE_FLOAT_KERNELS(base, impl)                                          \
  CJ_DEFINE_KERNEL(base##_i32, impl<int32_t>)

CJ_DEFINE_KERNEL(cj_take_b1, take<uint8_t>)
CJ_DEFINE_KERNEL(cj_take_b4, take<uint32_t>)
CJ_DEFINE_KERNEL(cj_take_b8, take<uint64_t>)
CJ_DEFINE_TYPED_KERNELS(cj_scatter_add, scatterAdd)
CJ_DEFINE_TYPED_KERNELS(cj_iota, iota)
CJ_DEFINE_TYPED_KERNELS(cj_one_hot, oneHot)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::indexSymbols() {
  return {CJ_SYMBOL(cj_take_b1),         CJ_SYMBOL(cj_take_b4),   CJ_SYMBOL(cj_take_b8),
          CJ_FLOAT_SYMBOLS(cj_scatter_add), CJ_SYMBOL(cj_scatter_add_i32),
          CJ_FLOAT_SYMBOLS(cj_iota),     CJ_SYMBOL(cj_iota_i32),
          CJ_FLOAT_SYMBOLS(cj_one_hot),  CJ_SYMBOL(cj_one_hot_i32)};
}
