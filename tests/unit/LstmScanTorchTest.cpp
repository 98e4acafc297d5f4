// The scan of an LSTM cell against PyTorch's nn.LSTMCell over T = 5 steps:
// float64 forward values and gradients (of sum(hs * wh) + sum(cT * wc)) with
// respect to the weights, the initial state and the inputs, to 1e-9, from
// tests/fixtures/torch_lstm_scan.npz (written by
// tests/fixtures/make_torch_lstm_scan.py). The suite needs no PyTorch.
#include "GradCheck.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Scan.h"

#include "TorchFixtures.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

const Tensor &fixture(const std::string &name) {
  return testing::torchFixture("torch_lstm_scan.npz", name);
}

// nn.LSTMCell's step on a batch: gates = x W_ih^T + b_ih + h W_hh^T + b_hh
// in the order i, f, g, o; c' = f c + i g; h' = o tanh(c'). Carries h, c;
// per-step result h'.
Function lstmCell(int64_t B, int64_t I, int64_t H) {
  Graph body("lstm_cell");
  Value h = input(body, "h", f64({B, H}));
  Value c = input(body, "c", f64({B, H}));
  Value x = input(body, "x", f64({B, I}));
  Value Wih = input(body, "weight_ih", f64({4 * H, I}));
  Value Whh = input(body, "weight_hh", f64({4 * H, H}));
  Value bih = input(body, "bias_ih", f64({4 * H}));
  Value bhh = input(body, "bias_hh", f64({4 * H}));
  Value gates = matmul(x, transpose(Wih)) + bih + matmul(h, transpose(Whh)) + bhh;
  auto gate = [&](int64_t k) { return slice(gates, {0, k * H}, {B, (k + 1) * H}); };
  Value i = sigmoid(gate(0)), f = sigmoid(gate(1)), g = tanh(gate(2)), o = sigmoid(gate(3));
  Value cn = (f * c + i * g).named("cn");
  Value hn = (o * tanh(cn)).named("hn");
  output(hn);
  output(cn);
  output(hn * 1.0); // y_t = h_t
  return Function("lstm_cell", std::move(body));
}

void checkClose(const Tensor &got, const Tensor &want, const std::string &what) {
  INFO(what);
  REQUIRE(got.type().shape == want.type().shape);
  auto g = got.toDoubles(), w = want.toDoubles();
  double largest = 0;
  for (size_t k = 0; k < g.size(); ++k) {
    INFO("element " << k);
    CHECK(std::fabs(g[k] - w[k]) <= 1e-9 * std::max(1.0, std::fabs(w[k])));
    largest = std::max(largest, std::fabs(w[k]));
  }
  CHECK(largest > 1e-3); // not trivially zero
}

} // namespace

TEST_CASE("LSTM scan: values and gradients equal PyTorch's nn.LSTMCell over 5 steps (f64)") {
  const Tensor &xs = fixture("xs");
  const int64_t T = xs.type().shape[0], B = xs.type().shape[1], I = xs.type().shape[2];
  const int64_t H = fixture("h0").type().shape[1];
  REQUIRE(T == 5);

  Graph g("lstm");
  const std::vector<std::string> names{"xs",       "h0",      "c0",     "weight_ih",
                                       "weight_hh", "bias_ih", "bias_hh"};
  runtime::Bindings b;
  std::map<std::string, Value> in;
  for (const std::string &n : names) {
    in.emplace(n, input(g, n, fixture(n).type()));
    b[n] = fixture(n);
  }
  Value wh = input(g, "wh", fixture("wh").type()), wc = input(g, "wc", fixture("wc").type());
  b["wh"] = fixture("wh");
  b["wc"] = fixture("wc");
  auto r = scan(lstmCell(B, I, H), {in.at("h0"), in.at("c0")}, {in.at("xs")},
                {in.at("weight_ih"), in.at("weight_hh"), in.at("bias_ih"), in.at("bias_hh")});
  REQUIRE(r.size() == 3);
  r[0].named("hT");
  r[1].named("cT");
  r[2].named("hs");
  Value loss = (sum(r[2] * wh) + sum(r[1] * wc)).named("loss");
  output(loss);
  output(r[0]);
  output(r[1]);
  output(r[2]);

  for (const char *v : {"hs", "hT", "cT"})
    checkClose(testing::valueOf(g, b, v), fixture(v), std::string("forward ") + v);
  CHECK(testing::valueOf(g, b, "loss").toDoubles()[0] ==
        doctest::Approx(fixture("loss").toDoubles()[0]).epsilon(1e-12));

  // Gradients by the scan's adjoint rule: backpropagation through time.
  Graph dg = compiler::grad(g, "loss", names);
  for (const std::string &n : names)
    checkClose(testing::valueOf(dg, b, "grad." + n), fixture("d" + n), "d loss / d " + n);
}
