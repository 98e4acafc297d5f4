// withBatchSize on models whose scans run functions (ModelGraphs.h): the
// re-batched graph, body included, computes per example what the model at
// its own batch size computes (values and gradients), for time-first
// sequences, scans of scans and sizes that equal the batch.
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;
namespace rt = chainjit::runtime::train;

namespace {

// A time-first LSTM as examples/lstm_fashion.cj writes it: x [B, T * D]
// reshaped to [B, T, D], transposed to [T, B, D], one projection for all
// steps ([T * B, D] x [D, 4H]), a scan of `cell` with zero carries [B, H],
// and a classifier on the last state plus the mean of every step's state.
std::string lstmText(int B, int T, int D, int H, int C) {
  auto s = [](int v) { return std::to_string(v); };
  std::string G = s(4 * H);
  return "func cell(%h : f64[" + s(B) + ", " + s(H) + "], %c : f64[" + s(B) + ", " + s(H) +
         "], %p : f64[" + s(B) + ", " + G + "], %U : f64[" + s(H) + ", " + G + "]) {\n"
         "  %z = add(%p, matmul(%h, %U))\n"
         "  %i = sigmoid(slice(%z) {starts = [0, 0], ends = [" + s(B) + ", " + s(H) + "]})\n"
         "  %f = sigmoid(slice(%z) {starts = [0, " + s(H) + "], ends = [" + s(B) + ", " +
         s(2 * H) + "]})\n"
         "  %g = tanh(slice(%z) {starts = [0, " + s(2 * H) + "], ends = [" + s(B) + ", " +
         s(3 * H) + "]})\n"
         "  %o = sigmoid(slice(%z) {starts = [0, " + s(3 * H) + "], ends = [" + s(B) + ", " + G +
         "]})\n"
         "  %cn = add(mul(%f, %c), mul(%i, %g))\n"
         "  %hn = mul(%o, tanh(%cn))\n"
         "  return %hn, %cn, %hn\n"
         "}\n"
         "graph lstm {\n"
         "  input %x : f64[" + s(B) + ", " + s(T * D) + "]\n"
         "  input %labels : i32[" + s(B) + "]\n"
         "  param %Wih : f64[" + G + ", " + s(D) + "] {init = \"uniform\", scale = 0.5}\n"
         "  param %Whh : f64[" + G + ", " + s(H) + "] {init = \"uniform\", scale = 0.5}\n"
         "  param %b : f64[" + G + "] {init = \"uniform\", scale = 0.5}\n"
         "  param %head : f64[" + s(C) + ", " + s(H) + "] {init = \"uniform\", scale = 0.5}\n"
         "  const %zeros : f64[" + s(B) + ", " + s(H) + "] = 0.0\n"
         "  %rows = reshape(%x) {shape = [" + s(B) + ", " + s(T) + ", " + s(D) + "]}\n"
         "  %xs = transpose(%rows) {perm = [1, 0, 2]}\n"
         "  %proj = matmul(reshape(%xs) {shape = [" + s(T * B) + ", " + s(D) +
         "]}, transpose(%Wih))\n"
         "  %p = reshape(add(%proj, %b)) {shape = [" + s(T) + ", " + s(B) + ", " + G + "]}\n"
         "  %U = transpose(%Whh)\n"
         "  %hT, %cT, %hs = scan @cell(%zeros, %zeros ; %p ; %U)\n"
         "  %avg = mean(%hs) {axes = [0]}\n"
         "  %logits = matmul(add(%hT, %avg), transpose(%head))\n"
         "  %loss = cross_entropy(%logits, %labels)\n"
         "  output %loss\n"
         "  output %logits\n"
         "}\n";
}

// A scan of scans: each outer step gets K sub-steps [K, B, D] and runs an
// inner recurrence over them from a zero state that the body itself makes
// (const [B, H] inside the function), adding its final state to the carry.
std::string nestedText(int B, int T, int K, int D, int H, int C) {
  auto s = [](int v) { return std::to_string(v); };
  std::string BH = s(B) + ", " + s(H);
  return "func inner(%h : f64[" + BH + "], %x : f64[" + s(B) + ", " + s(D) + "], %W : f64[" +
         s(D) + ", " + s(H) + "], %U : f64[" + s(H) + ", " + s(H) + "]) {\n"
         "  %hn = tanh(add(matmul(%x, %W), matmul(%h, %U)))\n"
         "  return %hn\n"
         "}\n"
         "func outer(%s : f64[" + BH + "], %xt : f64[" + s(K) + ", " + s(B) + ", " + s(D) +
         "], %W : f64[" + s(D) + ", " + s(H) + "], %U : f64[" + s(H) + ", " + s(H) + "]) {\n"
         "  const %z : f64[" + BH + "] = 0.0\n"
         "  %r = scan @inner(%z ; %xt ; %W, %U)\n"
         "  %sn = add(mul(%s, %r), %r)\n"
         "  return %sn, %sn\n"
         "}\n"
         "graph nested {\n"
         "  input %x : f64[" + s(B) + ", " + s(T * K * D) + "]\n"
         "  input %labels : i32[" + s(B) + "]\n"
         "  param %W : f64[" + s(D) + ", " + s(H) + "] {init = \"uniform\", scale = 0.7}\n"
         "  param %U : f64[" + s(H) + ", " + s(H) + "] {init = \"uniform\", scale = 0.7}\n"
         "  param %head : f64[" + s(C) + ", " + s(H) + "] {init = \"uniform\", scale = 0.7}\n"
         "  const %s0 : f64[" + BH + "] = 0.0\n"
         "  %rows = reshape(%x) {shape = [" + s(B) + ", " + s(T) + ", " + s(K) + ", " + s(D) +
         "]}\n"
         "  %xs = transpose(%rows) {perm = [1, 2, 0, 3]}\n"
         "  %sT, %ss = scan @outer(%s0 ; %xs ; %W, %U)\n"
         "  %logits = matmul(add(%sT, sum(%ss) {axes = [0]}), transpose(%head))\n"
         "  %loss = cross_entropy(%logits, %labels)\n"
         "  output %loss\n"
         "  output %logits\n"
         "}\n";
}

Tensor randomTensor(TensorType t, std::mt19937 &rng, double scale) {
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (double &e : v)
    e = u(rng);
  return Tensor(t, v);
}

// Rows [begin, begin + n) of a [N, F] data set, or row `r` repeated n times.
Tensor rowsOf(const std::vector<double> &data, const Shape &row, int64_t begin, int64_t n,
              bool repeat) {
  const int64_t F = numElements(row);
  Shape shape{n};
  shape.insert(shape.end(), row.begin(), row.end());
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = repeat ? begin : begin + i;
    v.insert(v.end(), data.begin() + r * F, data.begin() + (r + 1) * F);
  }
  return Tensor(f64(shape), v);
}

Tensor labelsOf(const std::vector<int> &labels, int64_t begin, int64_t n, bool repeat) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(labels[static_cast<size_t>(repeat ? begin : begin + i)]);
  return Tensor({DType::i32, {n}}, v);
}

struct PerExample {
  std::vector<double> loss;
  std::vector<std::vector<double>> logits;
  std::vector<std::map<std::string, std::vector<double>>> grads;
};

// The step graph (loss, logits, gradients) of `model`, run on `x`, `labels`.
runtime::EvalResult runStep(const Graph &model, const runtime::Bindings &params, Tensor x,
                            Tensor labels) {
  rt::ModelSignature sig = rt::inspectModel(model);
  Graph step = rt::buildStepGraph(model, sig, {.update = rt::InGraphUpdate::None});
  runtime::Bindings b = params;
  b.emplace("x", std::move(x));
  b.emplace("labels", std::move(labels));
  return runtime::interpret(step, b);
}

// Checks that `model` re-batched to each size in `batches` gives, on every
// batch of N examples (the last one smaller), the per-example logits of the
// model at its own batch size and the mean of its per-example losses and
// gradients. The model's own results per example come from a batch of that
// example repeated.
void checkPerExample(const Graph &model, const std::vector<int64_t> &batches, int64_t N,
                     int64_t classes) {
  rt::ModelSignature sig = rt::inspectModel(model);
  const int64_t B = sig.batch;
  const Shape &xShape = model.type(model.lookup("x")).shape;
  const Shape row(xShape.begin() + 1, xShape.end());
  const int64_t F = numElements(row);
  std::mt19937 rng(11);
  runtime::Bindings params;
  for (NodeId p : model.params())
    params.emplace(model.node(p).name, randomTensor(model.type(p), rng, 0.6));
  std::vector<double> data = randomTensor(f64({N, F}), rng, 1.0).toDoubles();
  std::vector<int> labels;
  for (int64_t i = 0; i < N; ++i)
    labels.push_back(static_cast<int>((i * 7 + 3) % classes));

  PerExample ref;
  for (int64_t r = 0; r < N; ++r) {
    runtime::EvalResult e = runStep(model, params, rowsOf(data, row, r, B, true),
                                    labelsOf(labels, r, B, true));
    ref.loss.push_back(e.output("loss").toDoubles()[0]);
    std::vector<double> lg = e.output("logits").toDoubles();
    ref.logits.push_back(std::vector<double>(lg.begin(), lg.begin() + classes));
    std::map<std::string, std::vector<double>> g;
    for (const std::string &p : sig.trainable)
      g[p] = e.output(rt::gradOutputName(p)).toDoubles();
    ref.grads.push_back(g);
  }

  for (int64_t batch : batches) {
    CAPTURE(batch);
    Graph at = rt::withBatchSize(model, sig, batch);
    CHECK(rt::graphBatchSize(at) == batch);
    for (NodeId p : model.params()) // params never hold the batch
      CHECK(at.type(at.lookup(model.node(p).name)) == model.type(p));
    for (int64_t begin = 0; begin < N; begin += batch) {
      int64_t n = std::min(batch, N - begin);
      CAPTURE(begin);
      Graph g = n == batch ? at : rt::withBatchSize(model, sig, n); // the last, partial batch
      runtime::EvalResult e =
          runStep(g, params, rowsOf(data, row, begin, n, false), labelsOf(labels, begin, n, false));
      double loss = 0;
      std::map<std::string, std::vector<double>> grads;
      for (int64_t i = 0; i < n; ++i) {
        loss += ref.loss[begin + i] / static_cast<double>(n);
        for (const auto &[p, v] : ref.grads[begin + i]) {
          grads[p].resize(v.size());
          for (size_t k = 0; k < v.size(); ++k)
            grads[p][k] += v[k] / static_cast<double>(n);
        }
      }
      CHECK(e.output("loss").toDoubles()[0] == doctest::Approx(loss).epsilon(1e-11));
      std::vector<double> lg = e.output("logits").toDoubles();
      REQUIRE(lg.size() == static_cast<size_t>(n * classes));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < classes; ++c)
          CHECK(lg[i * classes + c] ==
                doctest::Approx(ref.logits[begin + i][c]).epsilon(1e-11));
      for (const std::string &p : sig.trainable) {
        std::vector<double> got = e.output(rt::gradOutputName(p)).toDoubles();
        REQUIRE(got.size() == grads[p].size());
        double worst = 0;
        for (size_t k = 0; k < got.size(); ++k)
          worst = std::max(worst, std::abs(got[k] - grads[p][k]));
        CAPTURE(p);
        CHECK(worst < 1e-11);
      }
    }
  }
}

std::string bodyText(const Graph &g, const std::string &name) {
  const Function *f = g.findFunction(name);
  REQUIRE(f != nullptr);
  return printFunction(*f);
}

} // namespace

TEST_CASE("batch size: a time-first LSTM scan re-batched equals the model per example, values "
          "and gradients") {
  Graph model = parseGraph(lstmText(4, 3, 2, 5, 3), "lstm.cj");
  // 10 examples: batches of 3 (3 + 3 + 3 + 1), 7 (7 + 3), 5 (the hidden
  // size: probed at another size) and 1.
  checkPerExample(model, {3, 7, 5, 1}, 10, 3);

  Graph at3 = rt::withBatchSize(model, 4, 3);
  std::string cell = bodyText(at3, "cell");
  CHECK(cell.find("%h : f64[3, 5], %c : f64[3, 5], %p : f64[3, 20], %U : f64[5, 20]") !=
        std::string::npos);
  CHECK(cell.find("ends = [3, 10]") != std::string::npos);
  CHECK(at3.type(at3.lookup("hs")) == f64({3, 3, 5})); // [T, B, H]: the batch is axis 1
  CHECK(at3.type(at3.lookup("zeros")) == f64({3, 5}));
}

TEST_CASE("batch size: a hidden size, a length and a width equal to the batch are not the "
          "batch") {
  // B = T = D = H = 4, and 4H = T * B = 16: sizes alone cannot tell which 4
  // is the batch; how the input's batch flows does.
  Graph model = parseGraph(lstmText(4, 4, 4, 4, 3), "same_sizes.cj");
  Graph at3 = rt::withBatchSize(model, 4, 3);
  std::string cell = bodyText(at3, "cell");
  CHECK(cell.find("%h : f64[3, 4], %c : f64[3, 4], %p : f64[3, 16], %U : f64[4, 16]") !=
        std::string::npos);
  CHECK(cell.find("ends = [3, 16], starts = [0, 12]") != std::string::npos);
  CHECK(at3.type(at3.lookup("rows")) == f64({3, 4, 4}));
  CHECK(at3.type(at3.lookup("proj")) == f64({12, 16}));
  CHECK(at3.type(at3.lookup("p")) == f64({4, 3, 16}));
  CHECK(at3.type(at3.lookup("hs")) == f64({4, 3, 4}));
  CHECK(at3.type(at3.lookup("U")) == f64({4, 16}));
  checkPerExample(model, {3, 1, 6}, 7, 3);
}

TEST_CASE("batch size: scans of scans, with the inner zero state made in the outer body") {
  Graph model = parseGraph(nestedText(4, 3, 2, 2, 3, 3), "nested.cj");
  Graph at5 = rt::withBatchSize(model, 4, 5);
  CHECK(bodyText(at5, "outer").find("%s : f64[5, 3], %xt : f64[2, 5, 2]") != std::string::npos);
  const Function *outer = at5.findFunction("outer");
  REQUIRE(outer != nullptr);
  CHECK(bodyText(outer->body(), "inner").find("%h : f64[5, 3], %x : f64[5, 2]") !=
        std::string::npos);
  CHECK(outer->body().type(outer->body().lookup("z")) == f64({5, 3}));
  checkPerExample(model, {3, 5, 1}, 8, 3);
}

TEST_CASE("batch size: a graph that cannot follow the batch gets an error naming the node") {
  std::string text = lstmText(4, 3, 2, 5, 3);
  SUBCASE("a slice of part of the batch axis") {
    std::string bad = text;
    bad.replace(bad.find("  %avg"), 0,
                "  %first = slice(%hT) {starts = [0, 0], ends = [2, 5]}\n"
                "  output %first\n");
    Graph g = parseGraph(bad, "part.cj");
    try {
      rt::withBatchSize(g, 4, 3);
      FAIL("no error");
    } catch (const Error &e) {
      std::string m = e.what();
      CHECK(m.find("%first (slice)") != std::string::npos);
      CHECK(m.find("takes part of axis 0") != std::string::npos);
    }
  }
  SUBCASE("a carry that is a param") {
    std::string bad = text;
    bad.replace(bad.find("const %zeros"), std::string("const %zeros : f64[4, 5] = 0.0").size(),
                "param %zeros : f64[4, 5]");
    Graph g = parseGraph(bad, "param_carry.cj");
    try {
      rt::withBatchSize(g, 4, 3);
      FAIL("no error");
    } catch (const Error &e) {
      std::string m = e.what();
      CHECK(m.find("scan node #15 (%hT, %cT, %hs)") != std::string::npos);
      CHECK(m.find("carry #0 %zeros : f64[4, 5] must hold the batch (on axis 0)") != std::string::npos);
    }
  }
}

TEST_CASE("batch size: a time-first input (an imported LSTM's X [T, N, I]) is made batch-first") {
  // The LSTM above with its sequence as the input, time first, as ONNX has it.
  std::string text = lstmText(4, 3, 2, 5, 3);
  text.replace(text.find("  input %x : f64[4, 6]"), std::string("  input %x : f64[4, 6]").size(),
               "  input %x : f64[3, 4, 2]");
  text.erase(text.find("  %rows"), text.find("  %proj") - text.find("  %rows"));
  text.replace(text.find("reshape(%xs)"), std::string("reshape(%xs)").size(), "reshape(%x)");
  Graph timeFirst = parseGraph(text, "time_first.cj");
  CHECK(rt::inspectModel(timeFirst).batch == 3); // the leading axis, T
  Graph model = rt::withBatchFirstInputs(timeFirst);
  CHECK(model.type(model.lookup("x")) == f64({4, 3, 2}));
  CHECK(model.type(model.lookup("x.time_first")) == f64({3, 4, 2}));
  CHECK(rt::inspectModel(model).batch == 4);
  // The same function of each sequence, fed batch-first.
  std::mt19937 rng(5);
  runtime::Bindings params;
  for (NodeId p : model.params())
    params.emplace(model.node(p).name, randomTensor(model.type(p), rng, 0.6));
  Tensor x = randomTensor(f64({4, 3, 2}), rng, 1.0);
  std::vector<double> xs(24);
  for (int n = 0; n < 4; ++n)
    for (int t = 0; t < 3; ++t)
      for (int d = 0; d < 2; ++d)
        xs[(t * 4 + n) * 2 + d] = x.at((n * 3 + t) * 2 + d);
  Tensor labels({DType::i32, {4}}, {0, 2, 1, 2});
  runtime::Bindings a = params, b = params;
  a.emplace("x", x);
  a.emplace("labels", labels);
  b.emplace("x", Tensor(f64({3, 4, 2}), xs));
  b.emplace("labels", labels);
  CHECK(runtime::interpret(model, a).output("logits").toDoubles() ==
        runtime::interpret(timeFirst, b).output("logits").toDoubles());
  // Any model without a time-first input is returned as it is.
  Graph batchFirst = parseGraph(lstmText(4, 3, 2, 5, 3), "lstm.cj");
  CHECK(printGraph(rt::withBatchFirstInputs(batchFirst)) == printGraph(batchFirst));
  checkPerExample(model, {3, 1}, 5, 3);
}
