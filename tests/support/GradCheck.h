// Checks derivative graphs against central finite differences of the
// reference interpreter, in f64. Used by the per-op rule tests, the
// transform tests and the property tests.
#pragma once

#include "JitTesting.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace chainjit::testing {

// Random values for every input and param of `g` (floats uniform in
// [lo, hi], i32 in [0, intMax)).
inline runtime::Bindings randomBindings(const ir::Graph &g, uint32_t seed, double lo = -1.0,
                                        double hi = 1.0, int intMax = 3) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::uniform_int_distribution<int> ui(0, intMax - 1);
  runtime::Bindings b;
  for (ir::NodeId id = 0; id < g.size(); ++id) {
    const ir::Node &n = g.node(id);
    if (n.kind != ir::OpKind::Input && n.kind != ir::OpKind::Param)
      continue;
    ir::Tensor t(n.type);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, ir::isFloat(n.type.dtype) ? u(rng) : double(ui(rng)));
    b[n.name] = t;
  }
  return b;
}

// The value named `name` of g under bindings b.
inline ir::Tensor valueOf(const ir::Graph &g, const runtime::Bindings &b, const std::string &name) {
  auto all = runtime::interpretAll(g, b);
  return all.at(g.lookup(name));
}

inline double relativeError(double got, double want) {
  return std::fabs(got - want) / std::max(1.0, std::fabs(want));
}

// A tensor of type t with entries uniform in [-1, 1] (a random direction).
inline ir::Tensor randomLike(const ir::TensorType &t, std::mt19937 &rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  ir::Tensor r(t);
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, u(rng));
  return r;
}

// Central difference along direction v (per wrt name) at b of what `eval`
// computes from bindings (an output on one backend or another).
inline std::vector<double>
finiteDifference(const std::function<std::vector<double>(const runtime::Bindings &)> &eval,
                 const runtime::Bindings &b, const std::map<std::string, ir::Tensor> &v,
                 double h = 1e-6) {
  auto shifted = [&](double s) {
    runtime::Bindings bb = b;
    for (const auto &[name, dir] : v) {
      ir::Tensor &t = bb.at(name);
      for (int64_t i = 0; i < t.numel(); ++i)
        t.set(i, t.at(i) + s * dir.at(i));
    }
    return eval(bb);
  };
  auto plus = shifted(h), minus = shifted(-h);
  std::vector<double> d(plus.size());
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = (plus[i] - minus[i]) / (2 * h);
  return d;
}

// The same for `of` of f on the interpreter.
inline std::vector<double> finiteDifference(const ir::Graph &f, const runtime::Bindings &b,
                                            const std::string &of,
                                            const std::map<std::string, ir::Tensor> &v,
                                            double h = 1e-6) {
  return finiteDifference(
      [&](const runtime::Bindings &bb) { return valueOf(f, bb, of).toDoubles(); }, b, v, h);
}

// The Hessian of scalar `of` with respect to `wrt` in every Jacobian mode
// against central differences of compiler::grad: column i is
// (grad(w + h e_i) - grad(w - h e_i)) / 2h. With `onJit`, each Hessian graph
// also runs on the JIT, which must agree with the interpreter.
inline void checkHessian(const ir::Graph &f, const runtime::Bindings &b, const std::string &of,
                         const std::string &wrt, bool onJit = false) {
  ir::Graph gg = compiler::grad(f, of, {wrt});
  const ir::Tensor w0 = b.at(wrt);
  const int64_t n = w0.numel();
  const double h = 1e-5;
  std::vector<double> fd(static_cast<size_t>(n * n)); // row-major [grad entry, wrt entry]
  for (int64_t i = 0; i < n; ++i) {
    auto gradAt = [&](double s) {
      runtime::Bindings shifted = b;
      shifted.at(wrt).set(i, w0.at(i) + s);
      return valueOf(gg, shifted, "grad." + wrt).toDoubles();
    };
    std::vector<double> plus = gradAt(h), minus = gradAt(-h);
    for (int64_t j = 0; j < n; ++j)
      fd[j * n + i] = (plus[j] - minus[j]) / (2 * h);
  }
  for (auto mode : {compiler::JacobianMode::Forward, compiler::JacobianMode::Reverse,
                    compiler::JacobianMode::Optimal}) {
    ir::Graph hg = compiler::hessian(f, of, wrt, mode);
    if (onJit)
      checkJitMatchesInterpreter(hg, b);
    std::vector<double> hess = valueOf(hg, b, "hessian." + wrt).toDoubles();
    REQUIRE(hess.size() == fd.size());
    double largest = 0;
    for (size_t e = 0; e < fd.size(); ++e) {
      INFO("Hessian of %" << of << " wrt %" << wrt << ", mode " << int(mode) << ", entry " << e);
      CHECK(relativeError(hess[e], fd[e]) <= 1e-6);
      largest = std::max(largest, std::fabs(fd[e]));
    }
    CHECK(largest > 1e-3); // not trivially zero
  }
}

// JVP with k random directions and VJP with k random seeds, both against
// finite differences (the VJP through <y_bar, J v> = <J^T y_bar, v>). The
// function, its JVP graph and its VJP graph also run on the JIT, which must
// agree with the interpreter: so every rule test is a JIT test too.
// `wrt` must name f64 inputs or params of f; bindings come from `b`.
inline void checkDerivatives(const ir::Graph &f, const runtime::Bindings &b,
                             const std::string &of, const std::vector<std::string> &wrt,
                             double tol = 1e-6, int64_t k = 2, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  auto randomTensor = [&](const ir::TensorType &t) {
    ir::Tensor r(t);
    for (int64_t i = 0; i < r.numel(); ++i)
      r.set(i, u(rng));
    return r;
  };
  const ir::TensorType ofType = f.type(f.lookup(of));
  // Directions: k per wrt, stacked as [k, ...shape].
  std::map<std::string, std::vector<ir::Tensor>> dirs;
  runtime::Bindings jb = b, vb = b;
  for (const std::string &w : wrt) {
    ir::TensorType t = f.type(f.lookup(w));
    ir::Shape ks{k};
    ks.insert(ks.end(), t.shape.begin(), t.shape.end());
    ir::Tensor stacked({t.dtype, ks});
    for (int64_t d = 0; d < k; ++d) {
      ir::Tensor one = randomTensor(t);
      for (int64_t i = 0; i < one.numel(); ++i)
        stacked.set(d * one.numel() + i, one.at(i));
      dirs[w].push_back(one);
    }
    jb["tangent." + w] = stacked;
  }
  ir::Graph jg = compiler::jvp(f, of, wrt, k);
  std::vector<double> tangent = valueOf(jg, jb, "tangent." + of).toDoubles();

  ir::Graph vg = compiler::vjp(f, of, wrt, k);
  ir::Shape seedShape{k};
  seedShape.insert(seedShape.end(), ofType.shape.begin(), ofType.shape.end());
  ir::Tensor seedT = randomTensor({ofType.dtype, seedShape});
  vb["adjoint." + of] = seedT;
  checkJitMatchesInterpreter(f, b);
  checkJitMatchesInterpreter(jg, jb);
  checkJitMatchesInterpreter(vg, vb);
  std::map<std::string, std::vector<double>> adjoints;
  auto all = runtime::interpretAll(vg, vb);
  for (const std::string &w : wrt)
    adjoints[w] = all.at(vg.lookup("adjoint." + w)).toDoubles();

  int64_t m = ofType.numel();
  for (int64_t d = 0; d < k; ++d) {
    std::map<std::string, ir::Tensor> v;
    for (const std::string &w : wrt)
      v[w] = dirs[w][d];
    std::vector<double> fd = finiteDifference(f, b, of, v);
    for (int64_t i = 0; i < m; ++i) {
      INFO("JVP of %" << of << ", direction " << d << ", element " << i);
      CHECK(relativeError(tangent[d * m + i], fd[i]) <= tol);
    }
    // <seed_d, J v_d> from finite differences vs <J^T seed_d, v_d>.
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < m; ++i)
      lhs += seedT.at(d * m + i) * fd[i];
    for (const std::string &w : wrt) {
      const ir::Tensor &vd = v[w];
      for (int64_t i = 0; i < vd.numel(); ++i)
        rhs += adjoints[w][d * vd.numel() + i] * vd.at(i);
    }
    INFO("VJP of %" << of << ", seed " << d << ": <seed, J v> vs <J^T seed, v>");
    CHECK(relativeError(rhs, lhs) <= tol);
  }
}

} // namespace chainjit::testing
