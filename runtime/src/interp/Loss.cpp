// Loss kernels, each the mean over the batch of a per-row loss.
#include "interp/Kernels.h"

#include <cmath>
#include <limits>

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Tensor;

// cross_entropy(logits [N, C], target) = mean over rows of
// -sum_j target[n, j] * log_softmax(logits[n])_j, or of
// -log_softmax(logits[n])[label[n]] for i32 labels. log_softmax is computed
// with the row maximum subtracted, so huge logits stay finite.
Tensor crossEntropyKernel(const KernelArgs &a) {
  const Tensor &logits = a.in(0), &target = a.in(1);
  int64_t rows = logits.shape()[0], classes = logits.shape()[1];
  bool labels = target.dtype() == ir::DType::i32;
  double total = 0;
  std::vector<double> logProb(static_cast<size_t>(classes));
  for (int64_t n = 0; n < rows; ++n) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < classes; ++j)
      m = std::fmax(m, logits.at(n * classes + j));
    double s = 0;
    for (int64_t j = 0; j < classes; ++j)
      s += std::exp(logits.at(n * classes + j) - m);
    for (int64_t j = 0; j < classes; ++j)
      logProb[j] = logits.at(n * classes + j) - m - std::log(s);
    if (labels) {
      double label = target.at(n);
      if (label < 0 || label >= double(classes))
        a.fail("label " + std::to_string(static_cast<int64_t>(label)) +
               " of row " + std::to_string(n) + " is out of range [0, " +
               std::to_string(classes) + ")");
      total -= logProb[static_cast<size_t>(label)];
    } else {
      for (int64_t j = 0; j < classes; ++j)
        total -= target.at(n * classes + j) * logProb[j];
    }
  }
  Tensor r(a.resultType());
  r.set(0, total / double(rows));
  return r;
}

// mse = mean((prediction - target)^2) over every element.
Tensor mseKernel(const KernelArgs &a) {
  const Tensor &p = a.in(0), &t = a.in(1);
  double total = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    double d = p.at(i) - t.at(i);
    total += d * d;
  }
  Tensor r(a.resultType());
  r.set(0, total / double(p.numel()));
  return r;
}

} // namespace

std::vector<KernelEntry> lossKernels() {
  return {
      {OpKind::CrossEntropy, crossEntropyKernel},
      {OpKind::Mse, mseKernel},
  };
}

} // namespace chainjit::runtime::interp
