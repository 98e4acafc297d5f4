// A training step's update fused into its gradient's GEMM (LoweringPlan.cpp,
// fuseAccumulations; cj_matmul_acc in LinAlg.cpp): `w - lr * g` (SGD) and
// `mu * v + g` (momentum's velocity), with g a product read by nothing
// else, are one GEMM with alpha and beta that writes the update buffer.
// Momentum's weight step `w - lr * v'` is then written by the same GEMM from
// the velocity v' it computes (chainUpdates, ChainedUpdate.h).
// The plan shows it; the values are the interpreter's on BLAS's ways and on
// the rank-k kernel, with the update written into the param's own buffer or
// into another, and where BLAS's scaling would drop a NaN (mu = 0, lr = 0);
// the chained step is the unfused loop's value from v', bit for bit.
#include "JitTesting.h"
#include "ScopedGemmWay.h"
#include "ScopedSplitMode.h"

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

enum class Rule { Sgd, Momentum };

// A layer y = x w, its weight gradient g = x^T y (the gradient of
// sum(y^2) / 2) and the update of `rule`; lr and mu are inputs.
// stepShown: the new w an output as well, or read by another output.
enum class StepShown { No, AsOutput, ReadElsewhere };

Graph stepGraph(DType t, int64_t batch, int64_t in, int64_t out, Rule rule,
                bool gradientIsOutput = false, StepShown stepShown = StepShown::No) {
  Graph g(rule == Rule::Sgd ? "sgd" : "momentum");
  Value x = input(g, "x", {t, {batch, in}});
  Value lr = input(g, "lr", {t, {}});
  Value w = param(g, "w", {t, {in, out}});
  Value y = matmul(x, w);
  output(sum(y * y).named("loss"));
  Value grad = matmul(transpose(x), y).named("grad");
  if (gradientIsOutput)
    output(grad);
  if (rule == Rule::Sgd) {
    update(w, (w - lr * grad).named("new_w"));
  } else {
    Value mu = input(g, "mu", {t, {}});
    Value v = param(g, "v", {t, {in, out}});
    Value nv = (mu * v + grad).named("new_v");
    update(v, nv);
    Value nw = (w - lr * nv).named("new_w");
    update(w, nw);
    if (stepShown == StepShown::AsOutput)
      output(nw);
    else if (stepShown == StepShown::ReadElsewhere)
      output(sum(nw).named("sum_w"));
  }
  return g;
}

Tensor randomTensor(const TensorType &type, std::mt19937 &rng) {
  std::uniform_real_distribution<double> u(-1, 1);
  Tensor t(type);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, u(rng));
  return t;
}

runtime::Bindings stepInputs(const Graph &g, double lr, double mu, uint32_t seed) {
  std::mt19937 rng(seed);
  runtime::Bindings b;
  for (NodeId id : g.inputs())
    b.emplace(g.node(id).name, randomTensor(g.type(id), rng));
  for (NodeId id : g.params())
    b.emplace(g.node(id).name, randomTensor(g.type(id), rng));
  b.at("lr").set(0, lr);
  if (b.count("mu"))
    b.at("mu").set(0, mu);
  return b;
}

compiler::JitOptions blasEverywhere() {
  compiler::JitOptions o;
  o.useCache = false;
  o.blasThreshold = 0; // every product through BLAS's ways: the fusion applies
  return o;
}

// Runs the compiled step on `b`; the updates go into the params' own
// buffers (inPlace) or into buffers of their own. Returns the outputs and
// the new params by name.
std::map<std::string, Tensor> runStep(const Graph &g, const runtime::Bindings &b, bool inPlace,
                                      const compiler::JitOptions &o) {
  auto compiled = compiler::compileGraph(g, o);
  std::map<std::string, Tensor> params, results;
  std::vector<void *> buffers;
  std::vector<Tensor> inputs;
  inputs.reserve(compiled->arguments().size());
  for (const compiler::ArgumentSpec &a : compiled->arguments())
    if (a.role == compiler::ArgumentRole::Param)
      params.emplace(a.name, b.at(a.name));
  for (const compiler::ArgumentSpec &a : compiled->arguments()) {
    switch (a.role) {
    case compiler::ArgumentRole::Input:
      inputs.push_back(b.at(a.name));
      buffers.push_back(inputs.back().data());
      break;
    case compiler::ArgumentRole::Param:
      buffers.push_back(params.at(a.name).data());
      break;
    case compiler::ArgumentRole::Output:
      results.emplace(a.name, Tensor(a.type));
      buffers.push_back(results.at(a.name).data());
      break;
    case compiler::ArgumentRole::Update:
      if (inPlace) {
        buffers.push_back(params.at(a.name).data());
      } else {
        results.emplace("new " + a.name, Tensor(a.type));
        buffers.push_back(results.at("new " + a.name).data());
      }
      break;
    }
  }
  compiled->call(buffers.data());
  if (inPlace)
    for (auto &[name, t] : params)
      results.emplace("new " + name, t);
  return results;
}

// The momentum step's new w is w - lr * v' from the step's own v', as the
// unfused loop rounds it (the product rounded, then the difference).
template <typename T>
void checkChainedStep(const runtime::Bindings &b, const std::map<std::string, Tensor> &got) {
  const Tensor &w = b.at("w"), &nv = got.at("new v"), &nw = got.at("new w");
  const T lr = static_cast<const T *>(b.at("lr").data())[0];
  for (int64_t i = 0; i < w.numel(); ++i) {
    volatile T product = lr * static_cast<const T *>(nv.data())[i]; // rounded on its own
    const T want = static_cast<const T *>(w.data())[i] - product;
    const T have = static_cast<const T *>(nw.data())[i];
    if (!(have == want || (std::isnan(have) && std::isnan(want)))) {
      CHECK_MESSAGE(false, "new w element " << i << ": " << have << " want " << want);
      return;
    }
  }
}

void checkStep(const Graph &g, const runtime::Bindings &b, const compiler::JitOptions &o) {
  runtime::EvalResult want = runtime::interpret(g, b);
  for (bool inPlace : {true, false}) {
    CAPTURE(inPlace);
    std::map<std::string, Tensor> got = runStep(g, b, inPlace, o);
    testing::checkSameTensor(got.at("loss"), want.outputs[0], "loss");
    for (const auto &[name, value] : want.updatedParams)
      testing::checkSameTensor(got.at("new " + name), value, "new " + name);
    if (got.count("new v") && g.name() == "momentum")
      b.at("w").dtype() == DType::f32 ? checkChainedStep<float>(b, got)
                                      : checkChainedStep<double>(b, got);
  }
}

} // namespace

TEST_CASE("fused updates: the plan computes w - lr g and mu v + g in the gradient's GEMM") {
  for (Rule rule : {Rule::Sgd, Rule::Momentum}) {
    Graph g = stepGraph(DType::f32, 16, 64, 48, rule);
    std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, blasEverywhere());
    INFO(plan);
    const std::string fused = rule == Rule::Sgd ? "%new_w = sub" : "%new_v = add";
    const std::string into =
        rule == Rule::Sgd ? "(accumulating into %w)" : "(accumulating into %v)";
    auto line = plan.find(fused);
    REQUIRE(line != std::string::npos);
    std::string text = plan.substr(line, plan.find('\n', line) - line);
    CHECK(text.find("-> cj_matmul_acc_f32") != std::string::npos);
    CHECK(text.find(into) != std::string::npos);
    CHECK(text.find("@arg") != std::string::npos);           // the update buffer, no final copy
    CHECK(plan.find("%grad = matmul") == std::string::npos); // no product of its own
    // Without fusion (or with the gradient an output of its own) the
    // product is a GEMM and the update a loop.
    compiler::JitOptions plain = blasEverywhere();
    plain.fuse = false;
    CHECK(compiler::emitGraph(g, compiler::EmitKind::Plan, plain).find("cj_matmul_acc") ==
          std::string::npos);
    Graph shown = stepGraph(DType::f32, 16, 64, 48, rule, /*gradientIsOutput=*/true);
    CHECK(compiler::emitGraph(shown, compiler::EmitKind::Plan, blasEverywhere())
              .find("cj_matmul_acc") == std::string::npos);
  }
}

TEST_CASE("fused updates: momentum's w - lr v' is written by the GEMM that computes v'") {
  Graph g = stepGraph(DType::f32, 16, 64, 48, Rule::Momentum);
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, blasEverywhere());
  INFO(plan);
  auto line = plan.find("%new_v = add");
  REQUIRE(line != std::string::npos);
  std::string text = plan.substr(line, plan.find('\n', line) - line);
  CHECK(text.find("(then %new_w = sub from it @arg") != std::string::npos); // no final copy
  CHECK(plan.find("%new_w = sub fusing") == std::string::npos);             // no loop of its own
  // Not where the new w is read again: as an output, or by another node.
  for (StepShown shown : {StepShown::AsOutput, StepShown::ReadElsewhere}) {
    CAPTURE(int(shown));
    Graph read = stepGraph(DType::f32, 16, 64, 48, Rule::Momentum, false, shown);
    std::string other = compiler::emitGraph(read, compiler::EmitKind::Plan, blasEverywhere());
    CHECK(other.find("cj_matmul_acc") != std::string::npos);
    CHECK(other.find("(then ") == std::string::npos);
    CHECK(other.find("%new_w = sub") != std::string::npos);
  }
}

TEST_CASE("fused updates: the interpreter's values on every way of the product") {
  // 64 x 48 x 16 and 256 x 128 x 32 (outputs of 12 and 128 KiB: the second
  // is one the rank-k kernel takes); f32 and f64; BLAS alone, the rank-k
  // kernel forced, split over threads and not.
  struct Shape {
    int64_t batch, in, out;
  };
  for (Shape s : {Shape{16, 64, 48}, Shape{32, 256, 128}})
    for (DType t : {DType::f32, DType::f64})
      for (Rule rule : {Rule::Sgd, Rule::Momentum})
        for (const char *kernel : {"blas", "rank-k"})
          for (const char *threads : {"1", "force"}) {
            CAPTURE(s.in);
            CAPTURE(dtypeName(t));
            CAPTURE(int(rule));
            CAPTURE(kernel);
            CAPTURE(threads);
            testing::ScopedGemmWay way(kernel);
            testing::ScopedSplitMode split(threads);
            Graph g = stepGraph(t, s.batch, s.in, s.out, rule);
            checkStep(g, stepInputs(g, 0.05, 0.9, 3), blasEverywhere());
          }
}

TEST_CASE("fused updates: no chained step from the velocity's old value, which v' overwrites") {
  // v' = mu v + g written in place into v; a step from v itself (v - lr v',
  // a rule of no optimizer, but a graph may say it) would read v' there.
  for (DType t : {DType::f32, DType::f64}) {
    CAPTURE(dtypeName(t));
    Graph g("from_v");
    Value x = input(g, "x", {t, {32, 256}});
    Value lr = input(g, "lr", {t, {}});
    Value mu = input(g, "mu", {t, {}});
    Value w = param(g, "w", {t, {256, 128}});
    Value v = param(g, "v", {t, {256, 128}});
    Value y = matmul(x, w);
    output(sum(y * y).named("loss"));
    Value nv = (mu * v + matmul(transpose(x), y)).named("new_v");
    update(v, nv);
    update(w, (v - lr * nv).named("new_w"));
    std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, blasEverywhere());
    INFO(plan);
    CHECK(plan.find("(then ") == std::string::npos);
    for (const char *kernel : {"blas", "rank-k"}) {
      CAPTURE(kernel);
      testing::ScopedGemmWay way(kernel);
      checkStep(g, stepInputs(g, 0.05, 0.9, 6), blasEverywhere());
    }
  }
}

TEST_CASE("fused updates: a zero scale keeps the NaN and infinity the unfused step has") {
  // BLAS reads no C for beta = 0 and skips the product for alpha = 0; the
  // kernel then combines the two as the loop would: 0 * NaN is NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (DType t : {DType::f32, DType::f64}) {
    CAPTURE(dtypeName(t));
    Graph momentum = stepGraph(t, 16, 64, 48, Rule::Momentum);
    runtime::Bindings b = stepInputs(momentum, 0.05, 0.0, 4); // mu = 0
    b.at("v").set(5, nan);
    b.at("v").set(7, inf);
    runtime::EvalResult want = runtime::interpret(momentum, b);
    REQUIRE(std::isnan(want.updatedParams.at("v").at(5)));
    REQUIRE(std::isnan(want.updatedParams.at("v").at(7)));
    checkStep(momentum, b, blasEverywhere());

    Graph sgd = stepGraph(t, 16, 64, 48, Rule::Sgd);
    runtime::Bindings z = stepInputs(sgd, 0.0, 0.0, 5); // lr = 0
    z.at("x").set(3, inf);                              // an infinite gradient: 0 * inf is NaN
    checkStep(sgd, z, blasEverywhere());
  }
}
