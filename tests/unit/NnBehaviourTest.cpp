// What the nn library promises beyond matching PyTorch's numbers: its
// params' names and initializers, the normalized adjacency's structure,
// dropout in attention, the recurrent cells as printable functions, and a
// clear error for each misuse.
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/nn/Attention.h"
#include "chainjit/nn/Embedding.h"
#include "chainjit/nn/GraphLayers.h"
#include "chainjit/nn/Recurrent.h"
#include "chainjit/runtime/Executable.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <map>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

// name -> (init, scale) of every param of g.
std::map<std::string, std::pair<std::string, double>> inits(const Graph &g) {
  std::map<std::string, std::pair<std::string, double>> m;
  for (NodeId p : g.params())
    m[g.node(p).name] = {g.node(p).attrs.getString("init"), g.node(p).attrs.getFloat("scale")};
  return m;
}

} // namespace

TEST_CASE("nn params: PyTorch's state_dict names and default initializer families") {
  Graph g("m");
  nn::LSTM lstm(g, "enc", {.inputSize = 3, .hiddenSize = 16, .numLayers = 2,
                           .bidirectional = true});
  nn::GRU gru(g, "gru", {.inputSize = 3, .hiddenSize = 4, .bias = false});
  nn::MultiheadAttention mha(g, "attn", {.embedDim = 8, .numHeads = 2});
  nn::Embedding emb(g, "emb", 10, 4);
  nn::GraphConv gcn(g, "gcn", 5, 3);
  auto m = inits(g);
  // 2 layers x 2 directions x 4 tensors, U(+-1/sqrt(H)) each.
  for (const char *name :
       {"enc.weight_ih_l0", "enc.weight_hh_l0", "enc.bias_ih_l0", "enc.bias_hh_l0",
        "enc.weight_ih_l0_reverse", "enc.bias_hh_l0_reverse", "enc.weight_ih_l1",
        "enc.weight_hh_l1_reverse"}) {
    CAPTURE(name);
    REQUIRE(m.count(name));
    CHECK(m[name] == std::pair<std::string, double>{"uniform", 0.25});
  }
  CHECK(g.type(g.lookup("enc.weight_ih_l0")).shape == Shape{64, 3});
  CHECK(g.type(g.lookup("enc.weight_ih_l1")).shape == Shape{64, 32}); // both directions in
  CHECK(lstm.weights.size() == 4);
  CHECK(!g.find("gru.bias_ih_l0"));
  CHECK(g.type(g.lookup("gru.weight_hh_l0")).shape == Shape{12, 4});
  CHECK(m["attn.in_proj_weight"].first == "glorot");
  CHECK(m["attn.in_proj_bias"].first == "zeros");
  CHECK(m["attn.out_proj.weight"] ==
        std::pair<std::string, double>{"uniform", 1.0 / std::sqrt(8.0)});
  CHECK(m["attn.out_proj.bias"].first == "zeros");
  CHECK(m["emb.weight"] == std::pair<std::string, double>{"normal", 1.0});
  CHECK(m["gcn.weight"].first == "glorot");
  CHECK(g.type(g.lookup("gcn.weight")).shape == Shape{5, 3});
  CHECK(m["gcn.bias"].first == "zeros");
  CHECK(m.size() == 16 + 2 + 4 + 1 + 2);
}

TEST_CASE("nn recurrent: outputs, last step and states, the cell prints and parses back") {
  Graph g("m");
  Value x = input(g, "x", f32({5, 2, 3}));
  nn::GRU gru(g, "gru", {.inputSize = 3, .hiddenSize = 4, .numLayers = 2, .bidirectional = true});
  nn::RecurrentOutput r = gru(x);
  CHECK(r.outputs.shape() == Shape{5, 2, 8});
  CHECK(r.last.shape() == Shape{2, 8});
  CHECK(r.hn.shape() == Shape{4, 2, 4});
  CHECK(!r.cn);
  output(r.outputs.named("out"));
  output(r.last.named("last"));
  runtime::Bindings b{{"x", Tensor::filled(f32({5, 2, 3}), 0.3)}};
  auto res = runtime::makeExecutable(g, runtime::Backend::Interp)->run(b);
  const Tensor &out = res.outputs[0], &last = res.outputs[1];
  for (int64_t i = 0; i < 16; ++i) // last = out[T - 1]
    CHECK(last.at(i) == out.at(4 * 16 + i));

  Function cell = nn::recurrentCell(nn::RecurrentKind::Lstm, 2, 4, true);
  CHECK(cell.name() == "lstm_cell_f32_n2_h4");
  CHECK(cell.arity() == 4);       // h, c, p, U
  CHECK(cell.numResults() == 3);  // h', c', y
  std::string text = printFunction(cell);
  FunctionLibrary back = parseFunctions(text);
  REQUIRE(back.find("lstm_cell_f32_n2_h4"));
  CHECK(printFunction(*back.find("lstm_cell_f32_n2_h4")) == text);
  CHECK(nn::recurrentCell(nn::RecurrentKind::Gru, 2, 4, true).arity() == 4); // h, p, U, b_hh
  CHECK(nn::recurrentCell(nn::RecurrentKind::Gru, 2, 4, false).arity() == 3);
}

TEST_CASE("nn graph: the normalized adjacency deduplicates, adds self-loops, checks ids") {
  // 0 - 1 twice, 1 -> 1 (a self-loop), node 2 alone.
  nn::CsrTensors a = nn::gcnNormalizedAdjacency(3, {{0, 1}, {1, 0}, {1, 1}}, true, DType::f64);
  CHECK(a.rowPtr.toDoubles() == std::vector<double>{0, 2, 4, 5});
  CHECK(a.colIdx.toDoubles() == std::vector<double>{0, 1, 0, 1, 2});
  // Degrees 2, 2, 1: every entry of rows 0 and 1 is 1/2, node 2's is 1.
  CHECK(a.values.toDoubles() == std::vector<double>{0.5, 0.5, 0.5, 0.5, 1.0});
  // Directed: 0 -> 1 lands in row 1 only (1 aggregates 0); degrees 1, 2.
  nn::CsrTensors d = nn::gcnNormalizedAdjacency(2, {{0, 1}}, false, DType::f64);
  CHECK(d.rowPtr.toDoubles() == std::vector<double>{0, 1, 3});
  CHECK(d.colIdx.toDoubles() == std::vector<double>{0, 0, 1});
  CHECK(d.values.at(1) == doctest::Approx(1.0 / std::sqrt(2.0)));
  CHECK(errorOf([] { nn::gcnNormalizedAdjacency(3, {{0, 1}, {2, 3}}); }) ==
        "gcnNormalizedAdjacency: edge 1 (2 -> 3) names a node outside [0, 3)");
  CHECK(errorOf([] { nn::gcnNormalizedAdjacency(0, {}); }).find("number of nodes") !=
        std::string::npos);
}

TEST_CASE("nn graph: mean aggregation leaves a node without in-edges at zero") {
  Graph g("m");
  Value x = input(g, "x", f64({3, 2}));
  Value src = constant(g, Tensor({DType::i32, {3}}, {0, 1, 1}));
  Value dst = constant(g, Tensor({DType::i32, {3}}, {1, 1, 0}));
  output(nn::meanAggregate(x, src, dst).named("m"));
  runtime::Bindings b{{"x", Tensor(f64({3, 2}), {1, 2, 3, 4, 5, 6})}};
  auto r = runtime::makeExecutable(g, runtime::Backend::Interp)->run(b);
  // node 0 <- 1; node 1 <- mean(0, 1); node 2 <- nothing.
  CHECK(r.outputs[0].toDoubles() == std::vector<double>{3, 4, 2, 3, 0, 0});
}

TEST_CASE("nn attention: dropout on the attention weights in train mode only") {
  Graph g("m");
  Value x = input(g, "x", f64({2, 4, 8}));
  Value step = input(g, "step", {DType::i32, {}});
  nn::MultiheadAttention with(g, "a", {.embedDim = 8, .numHeads = 2, .dropout = 0.5,
                                        .seed = 3, .dtype = DType::f64});
  output(with(x, true, step).named("y"));
  Graph plain("p");
  Value px = input(plain, "x", f64({2, 4, 8}));
  nn::MultiheadAttention without(plain, "a", {.embedDim = 8, .numHeads = 2, .dtype = DType::f64});
  output(without(px, true).named("y"));
  runtime::Bindings b{{"x", Tensor::filled(f64({2, 4, 8}), 0.25)},
                      {"step", Tensor::scalar(DType::i32, 1)}};
  for (NodeId p : plain.params()) { // the same weights in both
    Tensor t(plain.type(p));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, std::sin(0.7 * double(i) + double(p)));
    b[plain.node(p).name] = t;
  }
  runtime::Bindings pb = b;
  pb.erase("step");
  auto run = [&](const Graph &graph, const runtime::Bindings &bb) {
    return runtime::makeExecutable(graph, runtime::Backend::Interp)->run(bb).outputs[0];
  };
  Tensor eval = run(compiler::expandModes(g, compiler::Mode::Eval), b);
  Tensor train = run(compiler::expandModes(g, compiler::Mode::Train), b);
  Tensor reference = run(plain, pb);
  CHECK(eval.toDoubles() == reference.toDoubles());
  CHECK(train.toDoubles() != reference.toDoubles());
}

TEST_CASE("nn positions: learned (sliced to T) and sinusoidal tables") {
  Tensor t = nn::sinusoidalTable(3, 4, DType::f64);
  CHECK(t.at(0) == 0.0);          // sin(0)
  CHECK(t.at(1) == 1.0);          // cos(0)
  CHECK(t.at(4 + 2) == doctest::Approx(std::sin(1.0 / 100.0)));
  Graph g("m");
  Value x = input(g, "x", f32({2, 3, 4}));
  nn::LearnedPositions pos(g, "pos", 8, 4);
  CHECK(pos(x).shape() == Shape{2, 3, 4});
  CHECK(errorOf([&] { pos(input(g, "long", f32({2, 9, 4}))); }) ==
        "nn.LearnedPositions 'pos': x has 9 positions, the table 8");
  CHECK(errorOf([] { nn::sinusoidalTable(3, 5); }).find("even") != std::string::npos);
}

TEST_CASE("nn errors: each misuse names the layer and what it expected") {
  Graph g("m");
  Value x = input(g, "x", f32({5, 2, 3}));
  nn::LSTM lstm(g, "lstm", {.inputSize = 4, .hiddenSize = 2});
  CHECK(errorOf([&] { lstm(x); }) ==
        "nn.LSTM 'lstm': input f32[5, 2, 3] should have a last axis of 4");
  nn::GRU gru(g, "gru", {.inputSize = 3, .hiddenSize = 2});
  CHECK(errorOf([&] { gru(x, input(g, "h0", f32({2, 2, 2}))); }) ==
        "nn.GRU 'gru': h0 f32[2, 2, 2] should be f32[1, 2, 2] ([layers * directions, N, H])");
  CHECK(errorOf([&] { gru(x, {}, input(g, "c0", f32({1, 2, 2}))); }) ==
        "nn.GRU 'gru': only an LSTM takes c0");
  CHECK(errorOf([&] { gru(input(g, "flat", f32({5, 3}))); }) ==
        "nn.GRU 'gru': input f32[5, 3] should be [T, N, inputSize]");
  CHECK(errorOf([&] { gru(input(g, "empty", f32({0, 2, 3}))); }) ==
        "nn.GRU 'gru': input f32[0, 2, 3] has no steps or no sequences");
  CHECK(errorOf([&] { gru(input(g, "x64", f64({5, 2, 3}))); }) ==
        "nn.GRU 'gru': input f64[5, 2, 3] should be f32[5, 2, 3] (the layer's dtype)");
  CHECK(errorOf([&] { nn::RNN(g, "rnn", {.inputSize = 3, .hiddenSize = 0}); }) ==
        "nn.RNN 'rnn': hiddenSize must be positive, got 0");
  CHECK(errorOf([&] { nn::MultiheadAttention(g, "mha", {.embedDim = 6, .numHeads = 4}); }) ==
        "nn.MultiheadAttention 'mha': embedDim 6 is not divisible by numHeads 4");
  nn::MultiheadAttention drop(g, "drop", {.embedDim = 4, .numHeads = 2, .dropout = 0.1});
  CHECK(errorOf([&] { drop(input(g, "s", f32({1, 2, 4}))); }) ==
        "nn.MultiheadAttention 'drop': dropout needs the training step (an i32 scalar)");
  nn::Embedding emb(g, "emb", 5, 2);
  CHECK(errorOf([&] { emb(x); }) == "nn.Embedding 'emb': ids f32[5, 2, 3] should be i32");
  nn::GraphConv conv(g, "conv", 3, 2);
  nn::CsrTensors a = nn::gcnNormalizedAdjacency(4, {{0, 1}});
  CHECK(errorOf([&] { conv(nn::constantCsr(g, a, "adj"), input(g, "nodes", f32({5, 3}))); }) ==
        "nn.GraphConv 'conv': the adjacency has 4 columns but x f32[5, 3] has 5 nodes");
}

TEST_CASE("nn docs: docs/models.md names every public class and function of chainjit/nn") {
  const std::filesystem::path root(CHAINJIT_SOURCE_DIR);
  auto read = [](const std::filesystem::path &p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  std::string md = read(root / "docs/models.md");
  // Declarations at namespace level: classes, structs, enums and functions.
  static const std::regex decl(R"(^(?:class|struct|enum class) (\w+)|^[\w:<>]+ [&*]?(\w+)\()");
  int found = 0;
  for (const auto &e : std::filesystem::directory_iterator(root / "include/chainjit/nn")) {
    std::istringstream in(read(e.path()));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, decl))
        continue;
      std::string name = m[1].matched ? m[1].str() : m[2].str();
      INFO(e.path().filename().string() << " declares " << name);
      CHECK(std::regex_search(md, std::regex("\\b" + name + "\\b")));
      ++found;
    }
  }
  CHECK(found >= 25);
}
