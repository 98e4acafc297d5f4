#include "ReplicaReduction.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/ParamSet.h"

#include <cmath>
#include <cstring>

namespace chainjit::runtime::train {

namespace {

bool isF32(const ir::Tensor &t) { return t.dtype() == ir::DType::f32; }

void requireFloat(const ir::Tensor &t) {
  if (t.dtype() != ir::DType::f32 && t.dtype() != ir::DType::f64)
    throw Error("data-parallel training reduces f32 and f64 tensors only, not " +
                t.type().str());
}

template <typename T> T softThresholded(T u, T t) {
  T shrunk = std::abs(u) - t;
  if (!(shrunk > T(0)))
    return T(0);
  return u > T(0) ? shrunk : -shrunk;
}

template <typename T>
void graphUpdate(ir::Tensor &param, const ir::Tensor &grad, ir::Tensor *velocity, double lr,
                 double mu, double l1) {
  T *w = param.as<T>();
  const T *g = grad.as<T>();
  T *v = velocity ? velocity->as<T>() : nullptr;
  const T step = static_cast<T>(lr), momentum = static_cast<T>(mu);
  const T threshold = step * static_cast<T>(l1);
  for (int64_t i = 0, n = param.numel(); i < n; ++i) {
    T direction = g[i];
    if (v) {
      v[i] = momentum * v[i] + g[i];
      direction = v[i];
    }
    T u = w[i] - step * direction;
    w[i] = l1 != 0 ? softThresholded(u, threshold) : u;
  }
}

} // namespace

void allreduceWeighted(distributed::Communicator &comm, const std::vector<ir::Tensor *> &tensors,
                       double weight, std::span<double> scalars) {
  std::vector<float> f32;
  std::vector<double> f64;
  for (const ir::Tensor *t : tensors) {
    requireFloat(*t);
    if (isF32(*t)) {
      const float *d = t->as<float>();
      for (int64_t i = 0; i < t->numel(); ++i)
        f32.push_back(static_cast<float>(weight * d[i]));
    } else {
      const double *d = t->as<double>();
      for (int64_t i = 0; i < t->numel(); ++i)
        f64.push_back(weight * d[i]);
    }
  }
  f64.insert(f64.end(), scalars.begin(), scalars.end());
  // Every rank has the same layout, so both messages happen on all or none.
  if (!f32.empty())
    comm.allreduceSum(std::span<float>(f32));
  if (!f64.empty())
    comm.allreduceSum(std::span<double>(f64));
  size_t at32 = 0, at64 = 0;
  for (ir::Tensor *t : tensors) {
    if (isF32(*t)) {
      std::memcpy(t->as<float>(), f32.data() + at32, sizeof(float) * t->numel());
      at32 += t->numel();
    } else {
      std::memcpy(t->as<double>(), f64.data() + at64, sizeof(double) * t->numel());
      at64 += t->numel();
    }
  }
  std::copy(f64.begin() + at64, f64.end(), scalars.begin());
}

namespace {

std::vector<ir::Tensor *> pointers(ParamSet &x) {
  std::vector<ir::Tensor *> p;
  for (ir::Tensor &t : x)
    p.push_back(&t);
  return p;
}

} // namespace

double ShardedObjective::value(const ParamSet &x) {
  double f = local_ ? weight_ * local_->value(x) : 0.0;
  comm_.allreduceSum(std::span<double>(&f, 1));
  return f;
}

double ShardedObjective::gradient(const ParamSet &x, ParamSet &g) {
  double f = 0;
  if (local_) {
    f = weight_ * local_->gradient(x, g);
  } else {
    g = zerosLike(x);
  }
  allreduceWeighted(comm_, pointers(g), local_ ? weight_ : 0.0, std::span<double>(&f, 1));
  return f;
}

void ShardedObjective::hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) {
  if (local_)
    local_->hessianVector(x, v, hv);
  else
    hv = zerosLike(x);
  allreduceWeighted(comm_, pointers(hv), local_ ? weight_ : 0.0);
}

std::vector<double> ShardedObjective::hessian(const ParamSet &x) {
  int64_t n = totalSize(x);
  std::vector<double> h = local_ ? local_->hessian(x) : std::vector<double>(n * n, 0.0);
  for (double &v : h)
    v *= local_ ? weight_ : 0.0;
  comm_.allreduceSum(std::span<double>(h));
  return h;
}

uint64_t paramsHash(const Bindings &params) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](const void *data, size_t n) {
    const auto *b = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ULL;
    }
  };
  for (const auto &[name, value] : params) {
    mix(name.data(), name.size() + 1);
    mix(value.data(), value.byteSize());
  }
  return h;
}

void checkReplicas(distributed::Communicator &comm, const Bindings &params, int64_t epoch) {
  uint64_t mine = paramsHash(params);
  auto all = comm.allgather(std::as_bytes(std::span<const uint64_t>(&mine, 1)));
  uint64_t first = 0;
  std::memcpy(&first, all[0].data(), sizeof first);
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r) {
    uint64_t h = 0;
    std::memcpy(&h, all[r].data(), sizeof h);
    if (h != first)
      differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!differ.empty())
    throw Error("--check-replicas: after epoch " + std::to_string(epoch) + " the params of rank" +
                (differ.find(',') == std::string::npos ? " " : "s ") + differ +
                " differ from rank 0's (the ranks no longer train the same model)");
}

void applyGraphUpdate(ir::Tensor &param, const ir::Tensor &grad, ir::Tensor *velocity,
                      double lr, double mu, double l1) {
  requireFloat(param);
  if (isF32(param))
    graphUpdate<float>(param, grad, velocity, lr, mu, l1);
  else
    graphUpdate<double>(param, grad, velocity, lr, mu, l1);
}

} // namespace chainjit::runtime::train
