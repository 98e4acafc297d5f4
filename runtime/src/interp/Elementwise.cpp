// Elementwise kernels: unary maps, binary arithmetic and comparisons with
// NumPy broadcasting, and where(cond, a, b). Every function is evaluated in
// double and rounded once on store; the definitions that can overflow or
// cancel use their numerically stable forms.
#include "interp/Kernels.h"

#include "chainjit/ir/ElementSemantics.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace chainjit::runtime::interp {

namespace {

using ir::OpKind;
using ir::Tensor;

double signOf(double x) { return ir::element::sign(x); }
double reluOf(double x) { return ir::element::relu(x); }
double sigmoidOf(double x) { return ir::element::sigmoid(x); }
double softplusOf(double x) { return ir::element::softplus(x); }

template <double (*F)(double)>
Tensor unary(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  Tensor r(a.resultType());
  for (int64_t i = 0; i < x.numel(); ++i)
    storeValue(r, i, F(x.at(i)));
  return r;
}

double negOf(double x) { return -x; }
double expOf(double x) { return std::exp(x); }
double logOf(double x) { return std::log(x); }
double sqrtOf(double x) { return std::sqrt(x); }
double absOf(double x) { return std::fabs(x); }
double tanhOf(double x) { return std::tanh(x); }
double erfOf(double x) { return std::erf(x); }

// gelu, exact: x Phi(x) = 0.5 x erfc(-x/sqrt 2), which keeps its digits for
// x << 0 where 1 + erf(x/sqrt 2) would cancel. tanh form: 0.5x(1 + tanh u)
// = x sigmoid(2u), u = sqrt(2/pi)(x + 0.044715x^3), without that cancellation
// either. The JIT (compiler/src/jit/ScalarOps.cpp) uses the same forms.
Tensor geluKernel(const KernelArgs &a) {
  const bool tanhForm = a.attrs().getString("approximate") == "tanh";
  const double k = std::sqrt(2.0 / std::numbers::pi);
  const Tensor &x = a.in(0);
  Tensor r(a.resultType());
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = x.at(i);
    r.set(i, tanhForm ? v * sigmoidOf(2.0 * k * (v + 0.044715 * v * v * v))
                      : 0.5 * v * std::erfc(-v / std::numbers::sqrt2));
  }
  return r;
}

Tensor powKernel(const KernelArgs &a) {
  double e = a.attrs().getFloat("exponent");
  const Tensor &x = a.in(0);
  Tensor r(a.resultType());
  for (int64_t i = 0; i < x.numel(); ++i)
    r.set(i, std::pow(x.at(i), e));
  return r;
}

// Casts follow ir::element::castTo (saturating to i32, NaN -> 0).
Tensor castKernel(const KernelArgs &a) {
  const Tensor &x = a.in(0);
  Tensor r(a.resultType());
  for (int64_t i = 0; i < x.numel(); ++i) {
    r.set(i, ir::element::castTo(x.at(i), r.dtype()));
  }
  return r;
}

double maxOf(double x, double y) { return ir::element::maximum(x, y); }
double minOf(double x, double y) { return ir::element::minimum(x, y); }
double addOf(double x, double y) { return x + y; }
double subOf(double x, double y) { return x - y; }
double mulOf(double x, double y) { return x * y; }
double divOf(double x, double y) { return x / y; }
double lessOf(double x, double y) { return x < y; }
double lessEqualOf(double x, double y) { return x <= y; }
double greaterOf(double x, double y) { return x > y; }
double greaterEqualOf(double x, double y) { return x >= y; }
double equalOf(double x, double y) { return x == y; }
double notEqualOf(double x, double y) { return x != y; }

template <double (*F)(double, double)>
Tensor binary(const KernelArgs &a) {
  const Tensor &x = a.in(0), &y = a.in(1);
  Tensor r(a.resultType());
  std::vector<int64_t> ix = broadcastIndex(x.shape(), r.shape());
  std::vector<int64_t> iy = broadcastIndex(y.shape(), r.shape());
  for (int64_t i = 0; i < r.numel(); ++i)
    storeValue(r, i, F(x.at(ix[i]), y.at(iy[i])));
  return r;
}

Tensor whereKernel(const KernelArgs &a) {
  const Tensor &c = a.in(0), &x = a.in(1), &y = a.in(2);
  Tensor r(a.resultType());
  std::vector<int64_t> ic = broadcastIndex(c.shape(), r.shape());
  std::vector<int64_t> ix = broadcastIndex(x.shape(), r.shape());
  std::vector<int64_t> iy = broadcastIndex(y.shape(), r.shape());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, c.at(ic[i]) != 0 ? x.at(ix[i]) : y.at(iy[i]));
  return r;
}

} // namespace

std::vector<KernelEntry> elementwiseKernels() {
  return {
      {OpKind::Neg, unary<negOf>},
      {OpKind::Exp, unary<expOf>},
      {OpKind::Log, unary<logOf>},
      {OpKind::Sqrt, unary<sqrtOf>},
      {OpKind::Abs, unary<absOf>},
      {OpKind::Sign, unary<signOf>},
      {OpKind::Pow, powKernel},
      {OpKind::Relu, unary<reluOf>},
      {OpKind::Sigmoid, unary<sigmoidOf>},
      {OpKind::Tanh, unary<tanhOf>},
      {OpKind::Softplus, unary<softplusOf>},
      {OpKind::Erf, unary<erfOf>},
      {OpKind::Gelu, geluKernel},
      {OpKind::Cast, castKernel},
      {OpKind::Add, binary<addOf>},
      {OpKind::Sub, binary<subOf>},
      {OpKind::Mul, binary<mulOf>},
      {OpKind::Div, binary<divOf>},
      {OpKind::Maximum, binary<maxOf>},
      {OpKind::Minimum, binary<minOf>},
      {OpKind::Less, binary<lessOf>},
      {OpKind::LessEqual, binary<lessEqualOf>},
      {OpKind::Greater, binary<greaterOf>},
      {OpKind::GreaterEqual, binary<greaterEqualOf>},
      {OpKind::Equal, binary<equalOf>},
      {OpKind::NotEqual, binary<notEqualOf>},
      {OpKind::Where, whereKernel},
  };
}

} // namespace chainjit::runtime::interp
