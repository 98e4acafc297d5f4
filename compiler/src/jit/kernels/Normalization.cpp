// Library kernels of variance and layer_norm, and the libm functions that
// generated erf and gelu code calls.
//
// Both kernels take two passes over each group of elements, accumulating in
// double: the mean first, then the sum of squared deviations from it. One
// pass with E[x^2] - E[x]^2 cancels catastrophically (rows of 1e4 + noise in
// f32 lose every digit of the variance), and float accumulators would carry
// the rounding of large sums into x - mean; double sums make an f32 result
// the f64 result rounded, up to a few units in the last place.
#include "jit/kernels/KernelSupport.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace chainjit::compiler::jit::kernels {

namespace {

// params of cj_variance_{f32,f64}: [0] d, the number of dims after merging
// neighbouring axes of the same kind, [1] correction, then d entries each of
// [2, 2+d) the merged extents, [2+d, 2+2d) 1 where the dim is reduced.
// operands: {x}; result: one element per combination of the kept dims in
// row-major order (keepdims only adds size-1 axes). scratch: 4d int64 for
// the walk over the kept dims (no allocation inside a kernel: bundles of
// chainjit compile --aot link without a C++ runtime), then the offsets of
// the reduced elements, n int64, n the product of the reduced extents.
// variance = sum((x - mean)^2) / (n - correction), the mean over the reduced
// elements.
template <typename T>
int32_t variance(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const T *x = static_cast<const T *>(operands[0]);
  T *out = static_cast<T *>(result);
  const int64_t d = p[0], correction = p[1];
  const int64_t *extent = p + 2, *reduced = p + 2 + d;
  // Strides of x in the merged dims (row-major).
  auto *stride = static_cast<int64_t *>(scratch);
  int64_t *keptExtent = stride + d, *keptStride = keptExtent + d, *index = keptStride + d;
  int64_t s = 1;
  for (int64_t i = d; i-- > 0;) {
    stride[i] = s;
    s *= extent[i];
  }
  // The offsets of one group's elements, and the kept dims to walk.
  int64_t *offsets = index + d;
  offsets[0] = 0;
  int64_t n = 1, kept = 0;
  for (int64_t i = 0; i < d; ++i) {
    if (!reduced[i]) {
      keptExtent[kept] = extent[i];
      keptStride[kept] = stride[i];
      index[kept++] = 0;
      continue;
    }
    // Expand the offsets by this dim: every existing offset + j * stride.
    for (int64_t q = n; q-- > 0;)
      for (int64_t j = extent[i]; j-- > 0;)
        offsets[q * extent[i] + j] = offsets[q] + j * stride[i];
    n *= extent[i];
  }
  int64_t groups = 1;
  for (int64_t k = 0; k < kept; ++k)
    groups *= keptExtent[k];
  const double divisor = static_cast<double>(n - correction);
  int64_t base = 0;
  for (int64_t gi = 0; gi < groups; ++gi) {
    // x[base + ...], not a pointer x + base: x is null for an empty input.
    double mean = 0;
    for (int64_t j = 0; j < n; ++j)
      mean += static_cast<double>(x[base + offsets[j]]);
    mean /= static_cast<double>(n);
    double squares = 0;
    for (int64_t j = 0; j < n; ++j) {
      double dev = static_cast<double>(x[base + offsets[j]]) - mean;
      squares += dev * dev;
    }
    out[gi] = static_cast<T>(squares / divisor);
    // Next kept index (row-major odometer).
    for (int64_t k = kept; k-- > 0;) {
      base += keptStride[k];
      if (++index[k] < keptExtent[k])
        break;
      base -= keptStride[k] * keptExtent[k];
      index[k] = 0;
    }
  }
  return kJitOk;
}

// params of cj_layer_norm_{f32,f64}: [0] rows (the product of the axes before
// `axis`), [1] n (of the axes from `axis` on: one row), [2] 1 with a scale,
// [3] 1 with a shift, [4] eps as the bits of a double. operands: {x, scale
// [n] if any, shift [n] if any}; result: like x. No scratch.
// y = (x - mean) / sqrt(var + eps) * scale + shift per row, var biased.
template <typename T>
int32_t layerNorm(void *const *operands, void *result, const int64_t *p, void *) {
  const T *x = static_cast<const T *>(operands[0]);
  T *y = static_cast<T *>(result);
  const int64_t rows = p[0], n = p[1];
  const T *scale = p[2] ? static_cast<const T *>(operands[1]) : nullptr;
  const T *shift = p[3] ? static_cast<const T *>(operands[2]) : nullptr;
  const double eps = paramDouble(p[4]);
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = x + r * n;
    T *out = y + r * n;
    double mean = 0;
    for (int64_t j = 0; j < n; ++j)
      mean += static_cast<double>(row[j]);
    mean /= static_cast<double>(n);
    double squares = 0;
    for (int64_t j = 0; j < n; ++j) {
      double dev = static_cast<double>(row[j]) - mean;
      squares += dev * dev;
    }
    const double rstd = 1.0 / std::sqrt(squares / static_cast<double>(n) + eps);
    for (int64_t j = 0; j < n; ++j) {
      double v = (static_cast<double>(row[j]) - mean) * rstd;
      if (scale)
        v *= static_cast<double>(scale[j]);
      if (shift)
        v += static_cast<double>(shift[j]);
      out[j] = static_cast<T>(v);
    }
  }
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

LibraryCall lowerVariance(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &shape = g.type(n.operands[0]).shape;
  const auto rank = static_cast<int64_t>(shape.size());
  std::vector<bool> reduced(static_cast<size_t>(rank), n.attrs.getInts("axes").empty());
  for (int64_t a : n.attrs.getInts("axes"))
    reduced[static_cast<size_t>(normalizeAxis(a, rank))] = true;
  // Merge neighbouring axes of the same kind: a row-wise variance becomes
  // [rows kept, n reduced]; axes of extent 1 merge with anything.
  std::vector<int64_t> extents, kinds;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i])
      count *= shape[i];
    if (shape[i] == 1)
      continue;
    if (!kinds.empty() && kinds.back() == int64_t(reduced[i]))
      extents.back() *= shape[i];
    else {
      extents.push_back(shape[i]);
      kinds.push_back(reduced[i]);
    }
  }
  std::vector<int64_t> params{static_cast<int64_t>(extents.size()), n.attrs.getInt("correction")};
  params.insert(params.end(), extents.begin(), extents.end());
  params.insert(params.end(), kinds.begin(), kinds.end());
  auto walk = 4 * static_cast<int64_t>(extents.size()); // the kernel's per-dim arrays
  return {typedSymbol("variance", n.type.dtype), params,
          (walk + std::max<int64_t>(count, 1)) * static_cast<int64_t>(sizeof(int64_t))};
}

LibraryCall lowerLayerNorm(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &shape = g.type(n.operands[0]).shape;
  AxisSplit s = splitAtAxis(shape, n.attrs.getInt("axis"));
  int64_t row = s.len * s.inner; // the axes from `axis` on
  return {typedSymbol("layer_norm", n.type.dtype),
          {s.outer, row, n.operands.size() > 1 ? 1 : 0, n.operands.size() > 2 ? 1 : 0,
           paramBits(n.attrs.getFloat("eps"))},
          0};
}

} // namespace

std::vector<LibraryKernel> normalizationKernels() {
  return {
      {ir::OpKind::Variance, lowerVariance},
      {ir::OpKind::LayerNorm, lowerLayerNorm},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_variance, variance)
CJ_DEFINE_FLOAT_KERNELS(cj_layer_norm, layerNorm)

// Generated erf and gelu code calls libm's erf/erff and erfc/erfcf (LLVM has
// no intrinsic for them). They are registered here by address so that the JIT
// finds them even where the process symbol search would not (a libm loaded
// privately, a static build).
namespace {
double libmErf(double x) { return std::erf(x); }
float libmErff(float x) { return std::erf(x); }
double libmErfc(double x) { return std::erfc(x); }
float libmErfcf(float x) { return std::erfc(x); }
} // namespace

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::normalizationSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_variance), CJ_FLOAT_SYMBOLS(cj_layer_norm),
          {"erf", reinterpret_cast<void *>(&libmErf)},
          {"erff", reinterpret_cast<void *>(&libmErff)},
          {"erfc", reinterpret_cast<void *>(&libmErfc)},
          {"erfcf", reinterpret_cast<void *>(&libmErfcf)}};
}
