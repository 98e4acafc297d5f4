// Flat-vector algebra over a ParamSet. The loops run on the typed storage
// (f32 or f64) rather than Tensor::at/set, because they touch every
// parameter on every step.
#include "chainjit/runtime/train/ParamSet.h"

#include "chainjit/ir/Error.h"

#include <cmath>
#include <type_traits>

namespace chainjit::runtime::train {

namespace {

// Calls fn(pointer) with the tensor's storage as float* or double*.
template <typename T, typename Fn> void withFloatData(T &t, Fn &&fn) {
  if (t.dtype() == ir::DType::f64)
    fn(t.template as<double>());
  else if (t.dtype() == ir::DType::f32)
    fn(t.template as<float>());
  else
    throw Error("a trainable parameter must be f32 or f64, not " + t.type().str());
}

} // namespace

ParamSet zerosLike(const ParamSet &x) {
  ParamSet z;
  z.reserve(x.size());
  for (const ir::Tensor &t : x)
    z.emplace_back(t.type());
  return z;
}

int64_t totalSize(const ParamSet &x) {
  int64_t n = 0;
  for (const ir::Tensor &t : x)
    n += t.numel();
  return n;
}

void requireSameLayout(const ParamSet &a, const ParamSet &b, const std::string &what) {
  if (a.size() != b.size())
    throw Error(what + ": " + std::to_string(a.size()) + " params against " +
                std::to_string(b.size()));
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].type() != b[i].type())
      throw Error(what + ": param " + std::to_string(i) + " is " + a[i].type().str() +
                  " against " + b[i].type().str());
}

void axpy(double a, const ParamSet &x, ParamSet &y) {
  requireSameLayout(x, y, "axpy");
  for (size_t p = 0; p < x.size(); ++p) {
    int64_t n = x[p].numel();
    withFloatData(y[p], [&](auto *yd) {
      using T = std::remove_pointer_t<decltype(yd)>;
      const T *xd = x[p].as<T>();
      for (int64_t i = 0; i < n; ++i)
        yd[i] = static_cast<T>(yd[i] + a * xd[i]);
    });
  }
}

void scale(ParamSet &x, double a) {
  for (ir::Tensor &t : x) {
    int64_t n = t.numel();
    withFloatData(t, [&](auto *d) {
      using T = std::remove_pointer_t<decltype(d)>;
      for (int64_t i = 0; i < n; ++i)
        d[i] = static_cast<T>(a * d[i]);
    });
  }
}

double dot(const ParamSet &x, const ParamSet &y) {
  requireSameLayout(x, y, "dot");
  double acc = 0;
  for (size_t p = 0; p < x.size(); ++p) {
    int64_t n = x[p].numel();
    withFloatData(x[p], [&](const auto *xd) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(xd)>>;
      const T *yd = y[p].as<T>();
      for (int64_t i = 0; i < n; ++i)
        acc += static_cast<double>(xd[i]) * static_cast<double>(yd[i]);
    });
  }
  return acc;
}

double norm(const ParamSet &x) { return std::sqrt(dot(x, x)); }

std::vector<double> flatten(const ParamSet &x) {
  std::vector<double> flat;
  flat.reserve(static_cast<size_t>(totalSize(x)));
  for (const ir::Tensor &t : x) {
    int64_t n = t.numel();
    withFloatData(t, [&](const auto *d) {
      for (int64_t i = 0; i < n; ++i)
        flat.push_back(static_cast<double>(d[i]));
    });
  }
  return flat;
}

void unflatten(const std::vector<double> &flat, ParamSet &x) {
  if (static_cast<int64_t>(flat.size()) != totalSize(x))
    throw Error("unflatten: " + std::to_string(flat.size()) + " values for " +
                std::to_string(totalSize(x)) + " parameter entries");
  size_t k = 0;
  for (ir::Tensor &t : x) {
    int64_t n = t.numel();
    withFloatData(t, [&](auto *d) {
      using T = std::remove_pointer_t<decltype(d)>;
      for (int64_t i = 0; i < n; ++i)
        d[i] = static_cast<T>(flat[k++]);
    });
  }
}

} // namespace chainjit::runtime::train
