// Small helpers shared by the interpreter's per-op tests.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <vector>

namespace chainjit::testing {

// An f64 const of the given shape and row-major values.
inline ir::Value c64(ir::Graph &g, ir::Shape s, std::vector<double> v) {
  return ir::constant(g, ir::Tensor(ir::f64(std::move(s)), v));
}

// Each element within `eps` relative of its expected (hand-computed) value.
inline void checkClose(const ir::Tensor &t, const std::vector<double> &expected,
                       double eps = 1e-15) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(t.at(i) == doctest::Approx(expected[i]).epsilon(eps));
  }
}

} // namespace chainjit::testing
