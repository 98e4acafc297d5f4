// Along-one-axis kernels: argmax, softmax and log_softmax (sum, mean and max
// are fused loops of the lowering). softmax and log_softmax subtract the
// maximum first (log-sum-exp), so large logits neither overflow nor lose
// precision; they compute in the element type otherwise.
//
// softmax and log_softmax along the last axis split their rows over threads
// when that pays (ParallelItems.h); each row is computed as on one thread.
//
// When the axis is not the last one, the kernels sweep the axis in the outer
// loop and keep one running value per inner index in `scratch`, so the inner
// loops stay contiguous instead of striding over the axis.
#include "jit/kernels/KernelSupport.h"
#include "jit/kernels/ParallelItems.h"
#include "jit/kernels/SoftmaxRows.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace chainjit::compiler::jit::kernels {

namespace {

template <typename T> bool isNan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

// params of cj_argmax_{f32,f64,i32}: [0] outer, [1] len (> 0 when anything
// is computed), [2] inner: the operand's shape split around the axis.
// operands: {x}; result: i32 [outer * inner]. scratch: inner elements of the
// operand's type (the running maxima). The first maximum wins; like NumPy, the
// first NaN counts as the maximum.
template <typename T>
int32_t argmax(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const T *x = static_cast<const T *>(operands[0]);
  auto *best = static_cast<int32_t *>(result);
  T *bestValue = static_cast<T *>(scratch);
  const int64_t outer = p[0], len = p[1], inner = p[2];
  if (inner == 1) { // along contiguous rows (a classifier's prediction)
    // The row's maximum first, then the first element equal to it (or the
    // first NaN). The running comparison below branches on every element,
    // and on a classifier's scores whether an element is a new maximum is
    // a coin toss: on fresh random 64 x 10 scores (the Fashion MLP's) it
    // took 3.5 us a call, 1.1 us on the same scores again; this 2.4 us.
    // The maximum's place: the block of 16 that holds it first, a branch
    // per block that is taken once, then a select over that block, scanned
    // backwards. A loop that stopped at the place branched as
    // unpredictably as the place itself on short rows, and each
    // misprediction also kept the next rows from overlapping (64 sets of
    // such scores in turn: 1.45-1.79 us with it, 0.98-1.51 us so); a select
    // over the whole row would read a long row to its end (4096 elements:
    // 81-84 us against 61-64 for the stopping loop, 65-67 so;
    // docs/performance.md).
    constexpr int64_t kBlock = 16;
    for (int64_t o = 0; o < outer; ++o) {
      const T *row = x + o * len;
      T top = row[0];
      bool nan = isNan(top);
      for (int64_t j = 1; j < len; ++j) {
        top = row[j] > top ? row[j] : top;
        nan |= isNan(row[j]);
      }
      int64_t at = 0;
      if (nan) {
        while (!isNan(row[at]))
          ++at;
      } else {
        int64_t b0 = 0;
        for (; b0 + kBlock < len; b0 += kBlock) {
          bool holds = false;
          for (int64_t j = b0; j < b0 + kBlock; ++j)
            holds |= row[j] == top;
          if (holds)
            break;
        }
        const int64_t b1 = std::min(len, b0 + kBlock);
        for (int64_t j = b1 - 1; j >= b0; --j) // == : -0 and +0 are one maximum, the first wins
          at = row[j] == top ? j : at;
      }
      best[o] = static_cast<int32_t>(at);
    }
    return kJitOk;
  }
  for (int64_t o = 0; o < outer; ++o, best += inner) {
    const T *block = x + o * len * inner;
    for (int64_t i = 0; i < inner; ++i) {
      best[i] = 0;
      bestValue[i] = block[i];
    }
    for (int64_t j = 1; j < len; ++j) {
      const T *row = block + j * inner;
      for (int64_t i = 0; i < inner; ++i)
        if (!isNan(bestValue[i]) && (row[i] > bestValue[i] || isNan(row[i]))) {
          best[i] = static_cast<int32_t>(j);
          bestValue[i] = row[i];
        }
    }
  }
  return kJitOk;
}

// params of cj_softmax_{f32,f64} and cj_log_softmax_{f32,f64}: [0] outer,
// [1] len, [2] inner, as for argmax. operands: {x}. scratch: 2 * inner
// elements when inner > 1 (running max and sum per inner index), else none.
// softmax = e^(x - m) / s, log_softmax = x - m - log s, with m the max along
// the axis and s = sum e^(x - m) >= 1.
template <typename T, bool Log>
int32_t softmax(void *const *operands, void *result, const int64_t *p, void *scratch) {
  const T *x = static_cast<const T *>(operands[0]);
  T *y = static_cast<T *>(result);
  const int64_t outer = p[0], len = p[1], inner = p[2];
  const T lowest = -std::numeric_limits<T>::infinity();
  if (inner == 1) { // the axis is contiguous: groups of rows (SoftmaxRows.h), over threads
    forItems(outer, [&](int64_t first, int64_t last) {
      T m[kSoftmaxRowsAtOnce], s[kSoftmaxRowsAtOnce];
      for (int64_t o0 = first; o0 < last; o0 += kSoftmaxRowsAtOnce) {
        const int64_t count = std::min(last - o0, kSoftmaxRowsAtOnce);
        softmaxRows(x + o0 * len, count, len, m, s, Log ? nullptr : y + o0 * len);
        if constexpr (Log)
          for (int64_t o = o0; o < o0 + count; ++o) {
            const T logS = std::log(s[o - o0]); // x - m is exact near the max: subtract it first
            for (int64_t j = 0; j < len; ++j)
              y[o * len + j] = (x[o * len + j] - m[o - o0]) - logS;
          }
      }
    });
    return kJitOk;
  }
  T *m = static_cast<T *>(scratch), *s = m + inner;
  for (int64_t o = 0; o < outer; ++o) {
    const T *block = x + o * len * inner;
    T *out = y + o * len * inner;
    for (int64_t i = 0; i < inner; ++i) {
      m[i] = lowest;
      s[i] = 0;
    }
    for (int64_t j = 0; j < len; ++j)
      for (int64_t i = 0; i < inner; ++i)
        m[i] = maxSkippingNan(m[i], block[j * inner + i]);
    for (int64_t j = 0; j < len; ++j)
      for (int64_t i = 0; i < inner; ++i)
        s[i] += (out[j * inner + i] = std::exp(block[j * inner + i] - m[i]));
    if constexpr (Log) {
      for (int64_t i = 0; i < inner; ++i)
        s[i] = std::log(s[i]);
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < inner; ++i)
          out[j * inner + i] = (block[j * inner + i] - m[i]) - s[i];
    } else {
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < inner; ++i)
          out[j * inner + i] /= s[i];
    }
  }
  return kJitOk;
}

template <typename T> constexpr auto plainSoftmax = softmax<T, false>;
template <typename T> constexpr auto logSoftmax = softmax<T, true>;

using ir::Graph;
using ir::NodeId;

// The operand's shape split around the node's `axis` attribute.
AxisSplit operandSplit(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  return splitAtAxis(g.type(n.operands[0]).shape, n.attrs.getInt("axis"));
}

LibraryCall lowerArgmax(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  AxisSplit s = operandSplit(g, id);
  if (s.len == 0 && n.type.numel() > 0)
    failLowering(g, id, "argmax over an empty axis of " + g.type(n.operands[0]).str());
  ir::DType in = g.type(n.operands[0]).dtype;
  return {typedSymbol("argmax", in), {s.outer, s.len, s.inner},
          s.inner * static_cast<int64_t>(ir::dtypeSize(in))};
}

template <bool Log>
LibraryCall lowerSoftmax(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  AxisSplit s = operandSplit(g, id);
  auto elem = static_cast<int64_t>(ir::dtypeSize(n.type.dtype));
  int64_t scratch = s.inner > 1 ? 2 * s.inner * elem : 0; // running max and sum
  return {typedSymbol(Log ? "log_softmax" : "softmax", n.type.dtype),
          {s.outer, s.len, s.inner}, scratch};
}

} // namespace

std::vector<LibraryKernel> reduceKernels() {
  return {
      {ir::OpKind::ArgMax, lowerArgmax},
      {ir::OpKind::Softmax, lowerSoftmax<false>},
      {ir::OpKind::LogSoftmax, lowerSoftmax<true>},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_argmax, argmax)
CJ_DEFINE_KERNEL(cj_argmax_i32, argmax<int32_t>)
CJ_DEFINE_FLOAT_KERNELS(cj_softmax, plainSoftmax)
CJ_DEFINE_FLOAT_KERNELS(cj_log_softmax, logSoftmax)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::reduceSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_argmax), CJ_SYMBOL(cj_argmax_i32),
          CJ_FLOAT_SYMBOLS(cj_softmax), CJ_FLOAT_SYMBOLS(cj_log_softmax)};
}
