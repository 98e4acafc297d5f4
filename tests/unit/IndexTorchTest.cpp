// gather (embedding, index_select), scatter_add (index_add) and a segment
// sum against PyTorch: float64 forward values and gradients to 1e-9, on the
// interpreter and the JIT. The reference values are committed in
// tests/fixtures/torch_indexing.npz, written by
// tests/fixtures/make_torch_indexing.py (see there for the cases).
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"

#include "TorchFixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

const Tensor &fixture(const std::string &name) {
  return testing::torchFixture("torch_indexing.npz", name);
}

void checkClose(const Tensor &got, const Tensor &want, const std::string &what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < want.numel(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(got.at(i) - want.at(i)) <= 1e-9 * std::max(1.0, std::fabs(want.at(i))));
  }
}

// The named output of g run on `backend`.
Tensor outputOf(const Graph &g, const runtime::Bindings &b, runtime::Backend backend,
                const std::string &name) {
  compiler::JitOptions o;
  o.useCache = false;
  runtime::EvalResult r = runtime::makeExecutable(g, backend, o)->run(b);
  for (size_t i = 0; i < g.outputs().size(); ++i)
    if (g.node(g.outputs()[i]).name == name)
      return r.outputs[i];
  FAIL("no output " << name);
  return {};
}

// out = op(x, idx); loss = lossOf(out, w); both and d loss / d x against the
// fixture `name`, on both backends.
void checkCase(const std::string &name, const std::function<Value(Value, Value)> &op,
               const std::function<Value(Value, Value)> &lossOf) {
  CAPTURE(name);
  const Tensor &x0 = fixture(name + "_x");
  Graph g(name);
  Value x = input(g, "x", x0.type());
  Value idx = constant(g, fixture(name + "_idx"));
  REQUIRE(idx.dtype() == DType::i32);
  Value w = constant(g, fixture(name + "_w"));
  Value out = op(x, idx).named("out");
  output(out);
  output(lossOf(out, w).named("loss"));
  Graph dg = compiler::grad(g, "loss", {"x"});
  runtime::Bindings b{{"x", x0}};
  for (auto backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    CAPTURE(backend == runtime::Backend::Jit ? "jit" : "interp");
    checkClose(outputOf(g, b, backend, "out"), fixture(name + "_out"), "forward value");
    checkClose(outputOf(g, b, backend, "loss"), fixture(name + "_loss"), "loss");
    checkClose(outputOf(dg, b, backend, "grad.x"), fixture(name + "_grad"), "gradient");
  }
}

} // namespace

TEST_CASE("index ops vs PyTorch: gather as an embedding lookup and as index_select") {
  checkCase(
      "embed", [](Value x, Value i) { return gather(x, i); },
      [](Value out, Value w) { return sum(w * tanh(out)); });
  checkCase(
      "select", [](Value x, Value i) { return gather(x, i, 1); },
      [](Value out, Value w) { return sum(w * out * out); });
}

TEST_CASE("index ops vs PyTorch: scatter_add as index_add along axes 0 and 1") {
  checkCase(
      "index_add", [](Value x, Value i) { return scatterAdd(x, i, 5); },
      [](Value out, Value w) { return sum(w * out * out); });
  checkCase(
      "index_add1", [](Value x, Value i) { return scatterAdd(x, i, 3, 1); },
      [](Value out, Value w) { return sum(w * tanh(out)); });
}

TEST_CASE("index ops vs PyTorch: segmentSum as scatter_add_ into segments") {
  checkCase(
      "segment", [](Value x, Value i) { return segmentSum(x, i, 4); },
      [](Value out, Value w) { return sum(w * sigmoid(out)); });
}
