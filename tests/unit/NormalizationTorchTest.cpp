// erf, gelu, variance and layer_norm against PyTorch: float64 values and
// gradients of sum(y * w) from tests/fixtures/torch_normalization.npz
// (written by tests/fixtures/make_torch_normalization.py), to 1e-9 on both
// backends. The suite itself needs no PyTorch.
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"

#include "TorchFixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

const Tensor &fixture(const std::string &name) {
  return testing::torchFixture("torch_normalization.npz", name);
}

// Case `name`: y = build(x[, scale[, shift]]) and the gradients of sum(y * w)
// with respect to every operand, on both backends, against the fixture.
void checkAgainstTorch(const std::string &name, const std::vector<std::string> &operands,
                       const std::function<Value(std::vector<Value> &)> &build) {
  CAPTURE(name);
  Graph g(name);
  std::vector<Value> in;
  runtime::Bindings b;
  for (const std::string &o : operands) {
    const Tensor &t = fixture(name + "." + o);
    in.push_back(input(g, o, t.type()));
    b[o] = t;
  }
  Value y = build(in).named("y");
  const Tensor &w = fixture(name + ".w");
  REQUIRE(y.type() == w.type());
  output(y);
  output(sum(y * input(g, "w", w.type())).named("loss"));
  b["w"] = w;
  Graph d = compiler::grad(g, "loss", operands);
  for (runtime::Backend backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    CAPTURE(int(backend));
    runtime::EvalResult r = runtime::makeExecutable(d, backend)->run(b);
    auto valueOf = [&](const std::string &v) -> const Tensor & {
      const auto &outs = d.outputs();
      size_t at = std::find(outs.begin(), outs.end(), d.lookup(v)) - outs.begin();
      REQUIRE(at < outs.size());
      return r.outputs.at(at);
    };
    std::vector<std::pair<std::string, std::string>> pairs{{"y", name + ".y"}};
    for (const std::string &o : operands)
      pairs.push_back({"grad." + o, name + ".d" + o});
    for (const auto &[ours, theirs] : pairs) {
      const Tensor &got = valueOf(ours), &want = fixture(theirs);
      REQUIRE(got.numel() == want.numel());
      for (int64_t i = 0; i < want.numel(); ++i) {
        INFO(ours << " element " << i << ": " << got.at(i) << " vs torch " << want.at(i));
        CHECK(std::fabs(got.at(i) - want.at(i)) <= 1e-9 * std::max(1.0, std::fabs(want.at(i))));
      }
    }
  }
}

} // namespace

TEST_CASE("torch: erf and gelu (exact and tanh) values and gradients") {
  checkAgainstTorch("erf", {"x"}, [](auto &v) { return erf(v[0]); });
  checkAgainstTorch("gelu_none", {"x"}, [](auto &v) { return gelu(v[0]); });
  checkAgainstTorch("gelu_tanh", {"x"}, [](auto &v) { return gelu(v[0], true); });
}

TEST_CASE("torch: variance with correction 0 and 1") {
  checkAgainstTorch("var_c0", {"x"}, [](auto &v) { return variance(v[0], {1}, false, 0); });
  checkAgainstTorch("var_c1", {"x"}, [](auto &v) { return variance(v[0], {0, 2}, true, 1); });
}

TEST_CASE("torch: layer_norm without and with scale and shift, gradients for each") {
  checkAgainstTorch("ln_plain", {"x"}, [](auto &v) { return layerNorm(v[0], {}, {}, 1); });
  checkAgainstTorch("ln_scale", {"x", "scale"},
                    [](auto &v) { return layerNorm(v[0], v[1], {}, 1); });
  checkAgainstTorch("ln_affine", {"x", "scale", "shift"},
                    [](auto &v) { return layerNorm(v[0], v[1], v[2], 1); });
}
