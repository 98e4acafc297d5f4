// Reductions over axes (sum, mean, max, variance), argmax, and softmax / log_softmax
// along one axis, the latter two with the maximum subtracted first
// (log-sum-exp) so that large logits neither overflow nor lose precision.
#include "interp/Kernels.h"

#include <cmath>
#include <limits>

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Tensor;

// For each input element, the flat index of the result element it reduces
// into. keepdims only adds size-1 axes, which leave flat indices unchanged.
std::vector<int64_t> reductionTarget(const ir::Shape &in,
                                     const std::vector<int64_t> &axes) {
  size_t rank = in.size();
  std::vector<bool> reduced(rank, false);
  for (int64_t d : axes)
    reduced[d] = true;
  // Strides of the result, spread over the input's axes (0 on reduced ones).
  std::vector<int64_t> strides(rank, 0);
  int64_t s = 1;
  for (size_t d = rank; d-- > 0;)
    if (!reduced[d]) {
      strides[d] = s;
      s *= in[d];
    }
  int64_t n = ir::numElements(in);
  std::vector<int64_t> target(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, t = 0;
    for (size_t d = rank; d-- > 0;) {
      t += (rest % in[d]) * strides[d];
      rest /= in[d];
    }
    target[i] = t;
  }
  return target;
}

enum class Reduction { Sum, Mean, Max };

template <Reduction R>
Tensor reduceKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  int64_t rank = static_cast<int64_t>(x.shape().size());
  std::vector<int64_t> axes = normalizeAxes(a.attrs().getInts("axes"), rank);
  std::vector<int64_t> target = reductionTarget(x.shape(), axes);
  Tensor r(a.resultType());
  double init = R == Reduction::Max ? -std::numeric_limits<double>::infinity() : 0.0;
  std::vector<double> acc(static_cast<size_t>(r.numel()), init);
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = x.at(i);
    double &t = acc[target[i]];
    if constexpr (R == Reduction::Max)
      t = std::isnan(t) || std::isnan(v) ? std::numeric_limits<double>::quiet_NaN()
                                         : std::fmax(t, v); // NaN propagates
    else
      t += v;
  }
  // Elements per result element (1 for an empty axes list on a scalar).
  int64_t count = r.numel() == 0 ? 0 : x.numel() / r.numel();
  for (int64_t i = 0; i < r.numel(); ++i)
    storeValue(r, i, R == Reduction::Mean ? acc[i] / double(count) : acc[i]);
  return r;
}

// variance: per result element, the mean first and then the sum of squared
// deviations (two passes, never E[x^2] - E[x]^2, which cancels for rows like
// 1e4 + noise), divided by n - correction.
Tensor varianceKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  int64_t rank = static_cast<int64_t>(x.shape().size());
  std::vector<int64_t> target =
      reductionTarget(x.shape(), normalizeAxes(a.attrs().getInts("axes"), rank));
  Tensor r(a.resultType());
  const auto m = static_cast<size_t>(r.numel());
  std::vector<double> mean(m, 0.0), squares(m, 0.0);
  int64_t count = r.numel() == 0 ? 0 : x.numel() / r.numel();
  for (int64_t i = 0; i < x.numel(); ++i)
    mean[target[i]] += x.at(i);
  for (double &v : mean)
    v /= double(count);
  for (int64_t i = 0; i < x.numel(); ++i) {
    double d = x.at(i) - mean[target[i]];
    squares[target[i]] += d * d;
  }
  double divisor = double(count - a.attrs().getInt("correction"));
  for (size_t i = 0; i < m; ++i)
    r.set(static_cast<int64_t>(i), squares[i] / divisor);
  return r;
}

// The shape split around one axis: x[o, j, i] is element (o * len + j) *
// inner + i of the flat data.
struct AxisView {
  int64_t outer, len, inner;
  AxisView(const ir::Shape &s, int64_t axis)
      : outer(extent(s, 0, size_t(axis))), len(s[size_t(axis)]),
        inner(extent(s, size_t(axis) + 1, s.size())) {}
  int64_t at(int64_t o, int64_t j, int64_t i) const {
    return (o * len + j) * inner + i;
  }
};

// The index of the first maximum; like NumPy, the first NaN counts as the
// maximum.
Tensor argmaxKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  int64_t axis = normalizeAxis(a.attrs().getInt("axis"),
                               static_cast<int64_t>(x.shape().size()));
  AxisView v(x.shape(), axis);
  Tensor r(a.resultType());
  if (v.len == 0 && r.numel() > 0)
    a.fail("argmax over the empty axis " + std::to_string(axis) + " of " +
           x.type().str());
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      int64_t best = 0;
      double bestValue = x.at(v.at(o, 0, i));
      for (int64_t j = 1; j < v.len && !std::isnan(bestValue); ++j) {
        double e = x.at(v.at(o, j, i));
        if (e > bestValue || std::isnan(e)) {
          best = j;
          bestValue = e;
        }
      }
      r.set(o * v.inner + i, double(best));
    }
  return r;
}

// softmax = e^(x - m) / s and log_softmax = x - m - log s, with m the max
// along the axis and s = sum e^(x - m) >= 1.
template <bool Log>
Tensor softmaxKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  int64_t axis = normalizeAxis(a.attrs().getInt("axis"),
                               static_cast<int64_t>(x.shape().size()));
  AxisView v(x.shape(), axis);
  Tensor r(a.resultType());
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < v.len; ++j)
        m = std::fmax(m, x.at(v.at(o, j, i)));
      double s = 0;
      for (int64_t j = 0; j < v.len; ++j)
        s += std::exp(x.at(v.at(o, j, i)) - m);
      for (int64_t j = 0; j < v.len; ++j) {
        double shifted = x.at(v.at(o, j, i)) - m;
        r.set(v.at(o, j, i), Log ? shifted - std::log(s) : std::exp(shifted) / s);
      }
    }
  return r;
}

} // namespace

std::vector<KernelEntry> reduceKernels() {
  return {
      {OpKind::Sum, reduceKernel<Reduction::Sum>},
      {OpKind::Mean, reduceKernel<Reduction::Mean>},
      {OpKind::Variance, varianceKernel},
      {OpKind::Max, reduceKernel<Reduction::Max>},
      {OpKind::ArgMax, argmaxKernel},
      {OpKind::Softmax, softmaxKernel<false>},
      {OpKind::LogSoftmax, softmaxKernel<true>},
  };
}

} // namespace chainjit::runtime::interp
