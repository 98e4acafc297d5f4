// Loss kernels: cross_entropy and mse, each the mean over the batch of a
// per-row loss. A row is summed in the element type; the batch total is
// accumulated in double, because a loss adds up every element of possibly
// large tensors into one scalar, where float rounding would grow with the
// element count. The batch is summed in chunks whose count depends on its
// size alone, split over threads when that pays and added in order, so the
// loss has the same bits on any number of threads.
#include "jit/kernels/IndexFault.h"
#include "jit/kernels/KernelSupport.h"
#include "jit/kernels/ParallelItems.h"
#include "jit/kernels/SoftmaxRows.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chainjit::compiler::jit::kernels {

namespace {

// params of cj_cross_entropy_{f32,f64}: [0] rows N, [1] classes C,
// [2] 1 when the target is i32 labels [N], 0 for probabilities [N, C] of the
// logits' type, [3] 1 when it also writes softmax(logits) (the gradient's
// probabilities, LoweringPlan.cpp chainSoftmax) to operands[2].
// operands: {logits [N, C], target[, softmax [N, C]]}; result: a scalar.
// loss = mean over rows of -sum_j target[n, j] * log_softmax(logits[n])_j
// (or -log_softmax(logits[n])[label[n]]), the row max subtracted first. A
// label outside [0, C) makes the loss NaN and returns kJitLabelOutOfRange,
// leaving the label and its row in cj_index_fault().
// Rows per chunk of the batch's sum (ParallelItems.h, deterministicSum):
// a batch of up to twice this many rows is summed in one loop.
constexpr int64_t kLossRowsPerChunk = 256;
constexpr int64_t kMseEntriesPerChunk = 16384;
template <typename T>
int32_t crossEntropy(void *const *operands, void *result, const int64_t *p, void *) {
  const T *logits = static_cast<const T *>(operands[0]);
  const int64_t rows = p[0], classes = p[1];
  const bool labels = p[2] != 0;
  T *probs = p[3] != 0 ? static_cast<T *>(operands[2]) : nullptr;
  T *loss = static_cast<T *>(result);
  // The first bad label of each chunk (row -1: none); the lowest is reported.
  IndexFault faults[kMaxSumChunks];
  double total = deterministicSum(rows, kLossRowsPerChunk, [&](int64_t c, int64_t begin, int64_t end) {
    double chunk = 0;
    faults[c] = {0, -1};
    T rowMax[kSoftmaxRowsAtOnce], rowSum[kSoftmaxRowsAtOnce];
    for (int64_t n = begin; n < end; ++n) {
      if ((n - begin) % kSoftmaxRowsAtOnce == 0)
        softmaxRows(logits + n * classes, std::min(kSoftmaxRowsAtOnce, end - n), classes, rowMax,
                    rowSum, probs ? probs + n * classes : nullptr);
      const T *row = logits + n * classes;
      const T m = rowMax[(n - begin) % kSoftmaxRowsAtOnce],
              s = rowSum[(n - begin) % kSoftmaxRowsAtOnce];
      const T logS = std::log(s);
      if (labels) {
        int32_t label = static_cast<const int32_t *>(operands[1])[n];
        if (label < 0 || label >= classes) {
          faults[c] = {label, n};
          return chunk;
        }
        chunk -= (row[label] - m) - logS;
      } else {
        const T *target = static_cast<const T *>(operands[1]) + n * classes;
        T acc = 0;
        for (int64_t j = 0; j < classes; ++j)
          acc += target[j] * ((row[j] - m) - logS);
        chunk -= acc;
      }
    }
    return chunk;
  });
  for (int64_t c = 0; c < sumChunks(rows, kLossRowsPerChunk); ++c)
    if (faults[c].position >= 0) {
      *loss = std::numeric_limits<T>::quiet_NaN();
      *cj_index_fault() = faults[c]; // the label and its row, for the message
      return kJitLabelOutOfRange;
    }
  *loss = static_cast<T>(total / static_cast<double>(rows));
  return kJitOk;
}

// params of cj_mse_{f32,f64}: [0] element count. operands: {prediction,
// target} of one type; result: mean((prediction - target)^2), a scalar.
template <typename T>
int32_t mse(void *const *operands, void *result, const int64_t *p, void *) {
  const T *pred = static_cast<const T *>(operands[0]);
  const T *target = static_cast<const T *>(operands[1]);
  double total = deterministicSum(p[0], kMseEntriesPerChunk, [&](int64_t, int64_t begin, int64_t end) {
    double chunk = 0;
    for (int64_t i = begin; i < end; ++i) {
      double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
      chunk += d * d;
    }
    return chunk;
  });
  *static_cast<T *>(result) = static_cast<T>(total / static_cast<double>(p[0]));
  return kJitOk;
}

using ir::Graph;
using ir::NodeId;

LibraryCall lowerCrossEntropy(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  const ir::Shape &logits = g.type(n.operands[0]).shape;
  bool labels = g.type(n.operands[1]).dtype == ir::DType::i32;
  return {typedSymbol("cross_entropy", n.type.dtype), {logits[0], logits[1], labels ? 1 : 0, 0}, 0};
}

LibraryCall lowerMse(const Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  return {typedSymbol("mse", n.type.dtype), {g.type(n.operands[0]).numel()}, 0};
}

} // namespace

std::vector<LibraryKernel> lossKernels() {
  return {
      {ir::OpKind::CrossEntropy, lowerCrossEntropy},
      {ir::OpKind::Mse, lowerMse},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_cross_entropy, crossEntropy)
CJ_DEFINE_FLOAT_KERNELS(cj_mse, mse)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::lossSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_cross_entropy), CJ_FLOAT_SYMBOLS(cj_mse)};
}
