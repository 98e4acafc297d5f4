// The one harness that runs a graph on both backends: the interpreter is the
// oracle, the JIT must agree within the dtype's tolerance (integers and
// booleans exactly, NaN where the interpreter has NaN).
#pragma once

#include "chainjit/runtime/Executable.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace chainjit::testing {

// Relative tolerance (against max(1, |want|)) for one dtype.
inline double jitTolerance(ir::DType t) { return t == ir::DType::f32 ? 2e-4 : 1e-9; }

inline void checkSameTensor(const ir::Tensor &got, const ir::Tensor &want, const std::string &what) {
  INFO(what);
  REQUIRE(got.type() == want.type());
  double tol = jitTolerance(want.dtype());
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    double g = got.at(i), w = want.at(i);
    bool same = (std::isnan(g) && std::isnan(w)) || g == w ||
                (ir::isFloat(want.dtype()) &&
                 std::fabs(g - w) <= tol * std::max(1.0, std::fabs(w)));
    if (!same) {
      ++reported;
      CHECK_MESSAGE(same, what << " element " << i << ": jit " << g << ", interpreter " << w);
    }
  }
}

// Runs `g` under `b` on the interpreter and the JIT and compares every
// output and every param update.
inline void checkJitMatchesInterpreter(const ir::Graph &g, const runtime::Bindings &b,
                                       compiler::JitOptions options = {}) {
  options.useCache = false; // exercise optimization and codegen every time
  runtime::EvalResult want = runtime::interpret(g, b);
  auto jit = runtime::makeExecutable(g, runtime::Backend::Jit, options);
  runtime::EvalResult got = jit->run(b);
  REQUIRE(got.outputs.size() == want.outputs.size());
  for (size_t i = 0; i < want.outputs.size(); ++i)
    checkSameTensor(got.outputs[i], want.outputs[i],
                    "graph " + g.name() + ", output " + std::to_string(i));
  REQUIRE(got.updatedParams.size() == want.updatedParams.size());
  for (const auto &[name, value] : want.updatedParams)
    checkSameTensor(got.updatedParams.at(name), value, "graph " + g.name() + ", update %" + name);
}

} // namespace chainjit::testing
