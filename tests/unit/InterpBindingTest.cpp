// The interpreter's calling interface: bindings of inputs and params, what it
// returns, its errors, and that its kernel table covers every op.
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using runtime::Bindings;
using runtime::interpret;

TEST_CASE("interp: every non-source op of ops.def has a kernel") {
  for (size_t i = 0; i < kNumOpKinds; ++i) {
    auto k = static_cast<OpKind>(i);
    INFO("op " << opName(k));
    CHECK(runtime::interpreterHasKernel(k) == !isSource(k));
  }
}

TEST_CASE("interp: outputs in order, updated params by name") {
  Graph g;
  Value x = input(g, "x", f64({2}));
  Value w = param(g, "w", f64({2}), {{"init", "ones"}});
  Value s = param(g, "s", f64(), {{"init", "const"}, {"scale", 3.0}});
  Value y = (x * w).named("y");
  output(sum(y));
  output(y);
  update(w, w + x);
  update(s, s * 2.0);
  Bindings b{{"x", Tensor(f64({2}), {1, 2})}};
  auto r = interpret(g, b);
  REQUIRE(r.outputs.size() == 2);
  CHECK(r.outputs[0].toDoubles() == std::vector<double>{3});
  CHECK(r.outputs[1].toDoubles() == std::vector<double>{1, 2});
  REQUIRE(r.updatedParams.size() == 2);
  CHECK(r.updatedParams.at("w").toDoubles() == std::vector<double>{2, 3});
  CHECK(r.updatedParams.at("s").toDoubles() == std::vector<double>{6});

  // A bound param overrides its initializer.
  b.emplace("w", Tensor(f64({2}), {10, 20}));
  r = interpret(g, b);
  CHECK(r.outputs[0].toDoubles() == std::vector<double>{50});
  CHECK(r.updatedParams.at("w").toDoubles() == std::vector<double>{11, 22});

  // interpretAll gives every node's value by id.
  auto all = runtime::interpretAll(g, b);
  REQUIRE(all.size() == g.size());
  CHECK(all[y.id()].toDoubles() == std::vector<double>{10, 40});
  CHECK(all[s.id()].toDoubles() == std::vector<double>{3});
}

TEST_CASE("interp: a missing input is an error naming it") {
  Graph g;
  Value x = input(g, "x", f32({2, 3}));
  output(relu(x));
  CHECK_THROWS_WITH_AS(interpret(g, {}),
                       doctest::Contains("input %x : f32[2, 3] is not bound"), Error);
}

TEST_CASE("interp: a binding must have exactly the declared type") {
  Graph g;
  Value x = input(g, "x", f32({2, 3}));
  Value w = param(g, "w", f32({3}));
  output(x + w);
  Bindings b{{"x", Tensor(f32({3, 2}))}};
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("input %x is declared f32[2, 3] but bound to "
                                         "a f32[3, 2]"),
                       Error);
  b.at("x") = Tensor(f64({2, 3})); // right shape, wrong dtype
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("declared f32[2, 3] but bound to a f64[2, 3]"),
                       Error);
  b.at("x") = Tensor(f32({2, 3}));
  b.emplace("w", Tensor(f32({2})));
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("param %w is declared f32[3] but bound to "
                                         "a f32[2]"),
                       Error);
}

TEST_CASE("interp: unknown binding names are errors that list them") {
  Graph g;
  Value x = input(g, "x", f32({2}));
  output(exp(x).named("e"));
  Bindings b{{"x", Tensor(f32({2}))}, {"xx", Tensor(f32({2}))}};
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("unknown binding %xx: graph 'main' has no "
                                         "input or param of that name (inputs: %x; "
                                         "params: none)"),
                       Error);
  // Naming a computed value is not a binding either.
  b.erase("xx");
  b.emplace("e", Tensor(f32({2})));
  b.emplace("q", Tensor(f32({2})));
  CHECK_THROWS_WITH_AS(interpret(g, b), doctest::Contains("unknown bindings %e, %q"),
                       Error);
}

TEST_CASE("interp: dropout and batch_norm must be expanded first") {
  Graph g;
  Value x = input(g, "x", f32({4, 2}));
  Value c = input(g, "c", i32());
  output(dropout(x, c, 0.5).named("d"));
  Bindings b{{"x", Tensor(f32({4, 2}))}, {"c", Tensor(i32())}};
  CHECK_THROWS_WITH_AS(interpret(g, b), doctest::Contains("in %d: error: dropout:"),
                       Error);
  CHECK_THROWS_WITH_AS(interpret(g, b),
                       doctest::Contains("expand the graph for training or evaluation "
                                         "first (pass expand-train or expand-eval"),
                       Error);

  Graph h;
  Value y = input(h, "x", f32({4, 2}));
  Value v = param(h, "v", f32({2}));
  output(batchNorm(y, v, v, v, v));
  // Unnamed: the node is named by its id.
  CHECK_THROWS_WITH_AS(interpret(h, {{"x", Tensor(f32({4, 2}))}}),
                       doctest::Contains("node #2: batch_norm: this op depends on the mode"),
                       Error);
}
