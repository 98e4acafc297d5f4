// The layers of chainjit::nn against PyTorch: float64 forward values and the
// gradients of sum(output * w) with respect to every weight and float input,
// from tests/fixtures/torch_nn_layers.npz (written by
// tests/fixtures/make_torch_nn_layers.py), to 1e-9. Params are bound by
// their names, which are PyTorch's state_dict names under the layer's
// prefix, so the test also checks that the names map 1:1. Every layer runs
// on both backends (the recurrent ones are scans, which the JIT lowers too).
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/nn/Attention.h"
#include "chainjit/nn/Embedding.h"
#include "chainjit/nn/GraphLayers.h"
#include "chainjit/nn/Recurrent.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Npz.h"

#include "TorchFixtures.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

const runtime::TensorMap &fixtures() { return testing::torchFixtures("torch_nn_layers.npz"); }

const Tensor &fixture(const std::string &name) {
  return testing::torchFixture("torch_nn_layers.npz", name);
}

Tensor asI32(const Tensor &t) {
  Tensor r({DType::i32, t.shape()});
  for (int64_t i = 0; i < t.numel(); ++i)
    r.set(i, t.at(i));
  return r;
}

// The edge list [E, 2] (source, target) of a case.
std::vector<nn::Edge> edgesOf(const std::string &name) {
  const Tensor &e = fixture(name + ".edges");
  std::vector<nn::Edge> edges;
  for (int64_t i = 0; i < e.shape()[0]; ++i)
    edges.push_back({int64_t(e.at(2 * i)), int64_t(e.at(2 * i + 1))});
  return edges;
}

using Inputs = std::map<std::string, Value>;
using Outputs = std::vector<std::pair<std::string, Value>>;

// Case `name`: inputs %NAME.<x> from the fixture (ids as i32), the layer
// built by `build` with prefix NAME, outputs %NAME.<y>; loss = sum over the
// outputs of sum(y * w). Compares every output and the gradient of every
// param and float input, and checks that the fixture has a gradient for
// exactly those (so every PyTorch weight has a param of the same name).
void checkAgainstTorch(const std::string &name, const std::vector<std::string> &floatInputs,
                       const std::vector<std::string> &intInputs,
                       const std::function<Outputs(Graph &, Inputs &)> &build) {
  CAPTURE(name);
  Graph g(name);
  Inputs in;
  runtime::Bindings b;
  for (const std::string &x : floatInputs) {
    const Tensor &t = fixture(name + "." + x);
    in.emplace(x, input(g, name + "." + x, t.type()));
    b[name + "." + x] = t;
  }
  for (const std::string &x : intInputs) {
    Tensor t = asI32(fixture(name + "." + x));
    in.emplace(x, input(g, name + "." + x, t.type()));
    b[name + "." + x] = t;
  }
  Outputs outs = build(g, in);
  std::optional<Value> loss;
  std::vector<std::pair<std::string, std::string>> compare;
  for (auto &[key, y] : outs) {
    std::string full = name + "." + key;
    y = y.named(full);
    output(y);
    const Tensor &w = fixture(name + ".w." + key);
    REQUIRE(y.type() == w.type());
    b[name + ".w." + key] = w;
    Value term = sum(y * input(g, name + ".w." + key, w.type()));
    loss = loss ? *loss + term : term;
    compare.push_back({full, full});
  }
  output(loss->named("loss"));

  std::vector<std::string> wrt;
  std::set<std::string> wanted;
  for (NodeId p : g.params()) {
    const std::string &pn = g.node(p).name;
    wrt.push_back(pn);
    b[pn] = fixture(pn);
  }
  for (const std::string &x : floatInputs)
    wrt.push_back(name + "." + x);
  for (const std::string &w : wrt) {
    std::string leaf = w.substr(name.size() + 1);
    compare.push_back({"grad." + w, name + ".grad." + leaf});
    wanted.insert(name + ".grad." + leaf);
  }
  std::set<std::string> inFixture;
  for (const auto &[k, v] : fixtures())
    if (k.rfind(name + ".grad.", 0) == 0)
      inFixture.insert(k);
  CHECK(inFixture == wanted);

  Graph d = compiler::grad(g, "loss", wrt);
  for (runtime::Backend backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    CAPTURE(int(backend));
    runtime::EvalResult r = runtime::makeExecutable(d, backend)->run(b);
    for (const auto &[ours, theirs] : compare) {
      CAPTURE(ours);
      const auto &order = d.outputs();
      size_t at = std::find(order.begin(), order.end(), d.lookup(ours)) - order.begin();
      REQUIRE(at < order.size());
      const Tensor &got = r.outputs.at(at), &want = fixture(theirs);
      REQUIRE(got.numel() == want.numel());
      double worst = 0;
      for (int64_t i = 0; i < want.numel(); ++i)
        worst = std::max(worst, std::fabs(got.at(i) - want.at(i)) /
                                    std::max(1.0, std::fabs(want.at(i))));
      CHECK(worst <= 1e-9);
    }
  }
}

} // namespace

TEST_CASE("nn torch: LSTM, 2 layers, bidirectional, zero initial state") {
  checkAgainstTorch("lstm", {"x"}, {}, [](Graph &g, Inputs &in) {
    nn::LSTM lstm(g, "lstm", {.inputSize = 3, .hiddenSize = 4, .numLayers = 2,
                              .bidirectional = true, .dtype = DType::f64});
    nn::RecurrentOutput r = lstm(in.at("x"));
    CHECK(r.last.shape() == Shape{2, 8});
    return Outputs{{"out", r.outputs}, {"hn", r.hn}, {"cn", *r.cn}};
  });
}

TEST_CASE("nn torch: LSTM with given h0 and c0, batch-first, without biases") {
  checkAgainstTorch("lstm_state", {"x", "h0", "c0"}, {}, [](Graph &g, Inputs &in) {
    nn::LSTM lstm(g, "lstm_state", {.inputSize = 3, .hiddenSize = 4, .bias = false,
                                    .batchFirst = true, .dtype = DType::f64});
    nn::RecurrentOutput r = lstm(in.at("x"), in.at("h0"), in.at("c0"));
    return Outputs{{"out", r.outputs}, {"hn", r.hn}, {"cn", *r.cn}};
  });
}

TEST_CASE("nn torch: GRU, 2 layers, batch-first, given initial state") {
  checkAgainstTorch("gru", {"x", "h0"}, {}, [](Graph &g, Inputs &in) {
    nn::GRU gru(g, "gru", {.inputSize = 3, .hiddenSize = 4, .numLayers = 2,
                           .batchFirst = true, .dtype = DType::f64});
    nn::RecurrentOutput r = gru(in.at("x"), in.at("h0"));
    return Outputs{{"out", r.outputs}, {"hn", r.hn}};
  });
}

TEST_CASE("nn torch: GRU without biases, bidirectional") {
  checkAgainstTorch("gru_nobias", {"x"}, {}, [](Graph &g, Inputs &in) {
    nn::GRU gru(g, "gru_nobias", {.inputSize = 3, .hiddenSize = 4, .bidirectional = true,
                                  .bias = false, .dtype = DType::f64});
    nn::RecurrentOutput r = gru(in.at("x"));
    return Outputs{{"out", r.outputs}, {"hn", r.hn}};
  });
}

TEST_CASE("nn torch: Elman RNN, tanh bidirectional with initial state, and relu") {
  checkAgainstTorch("rnn", {"x", "h0"}, {}, [](Graph &g, Inputs &in) {
    nn::RNN rnn(g, "rnn", {.inputSize = 3, .hiddenSize = 4, .bidirectional = true,
                           .dtype = DType::f64});
    nn::RecurrentOutput r = rnn(in.at("x"), in.at("h0"));
    return Outputs{{"out", r.outputs}, {"hn", r.hn}};
  });
  checkAgainstTorch("rnn_relu", {"x"}, {}, [](Graph &g, Inputs &in) {
    nn::RNN rnn(g, "rnn_relu", {.inputSize = 3, .hiddenSize = 4, .dtype = DType::f64}, true);
    nn::RecurrentOutput r = rnn(in.at("x"));
    return Outputs{{"out", r.outputs}, {"hn", r.hn}};
  });
}

TEST_CASE("nn torch: multi-head self-attention, without and with a causal mask") {
  for (bool causal : {false, true}) {
    std::string name = causal ? "mha_causal" : "mha";
    checkAgainstTorch(name, {"x"}, {}, [&](Graph &g, Inputs &in) {
      nn::MultiheadAttention mha(g, name, {.embedDim = 8, .numHeads = 2, .dtype = DType::f64});
      return Outputs{{"y", mha(in.at("x"), causal)}};
    });
  }
}

TEST_CASE("nn torch: pre-norm Transformer encoder block with GELU, causal") {
  checkAgainstTorch("block", {"x"}, {}, [](Graph &g, Inputs &in) {
    nn::TransformerEncoderLayer block(
        g, "block", {.embedDim = 8, .numHeads = 2, .feedforwardDim = 16, .dtype = DType::f64});
    return Outputs{{"y", block(in.at("x"), true)}};
  });
}

TEST_CASE("nn torch: embedding and sinusoidal positions") {
  checkAgainstTorch("embedding", {}, {"ids"}, [](Graph &g, Inputs &in) {
    nn::Embedding emb(g, "embedding", 10, 4, DType::f64);
    return Outputs{{"y", emb(in.at("ids"))}};
  });
  checkAgainstTorch("sinusoidal", {"x"}, {}, [](Graph &, Inputs &in) {
    return Outputs{{"y", nn::addSinusoidalPositions(in.at("x"))}};
  });
}

TEST_CASE("nn torch: two-layer GCN with the normalized adjacency built from the edge list") {
  checkAgainstTorch("gcn", {"x"}, {}, [](Graph &g, Inputs &in) {
    nn::CsrTensors a = nn::gcnNormalizedAdjacency(6, edgesOf("gcn"), true, DType::f64);
    CsrMatrix adj = nn::constantCsr(g, a, "adj");
    nn::GraphConv conv1(g, "gcn.conv1", 3, 5, true, DType::f64);
    nn::GraphConv conv2(g, "gcn.conv2", 5, 2, true, DType::f64);
    return Outputs{{"y", conv2(adj, relu(conv1(adj, in.at("x"))))}};
  });
}

TEST_CASE("nn torch: GraphSAGE mean aggregation by segment sums") {
  checkAgainstTorch("sage", {"x"}, {}, [](Graph &g, Inputs &in) {
    std::vector<nn::Edge> edges = edgesOf("sage");
    Tensor src({DType::i32, {int64_t(edges.size())}}), dst = src;
    for (size_t e = 0; e < edges.size(); ++e) {
      src.set(int64_t(e), double(edges[e].first));
      dst.set(int64_t(e), double(edges[e].second));
    }
    nn::SageConv sage(g, "sage", 3, 4, DType::f64);
    return Outputs{{"y", sage(in.at("x"), constant(g, src), constant(g, dst))}};
  });
}
