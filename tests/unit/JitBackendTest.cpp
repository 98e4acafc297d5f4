// The JIT backend against the interpreter: whole models, random graphs of
// every op family in f32 and f64, param updates, fusion on and off, and the
// plan's decisions (fusion, folded transposes, shared LU, arena reuse).
#include "GradCheck.h"
#include "JitTesting.h"
#include "RandomGraph.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::randomBindings;

TEST_CASE("jit: a small elementwise graph") {
  Graph g("small");
  Value x = input(g, "x", f32({4, 5}));
  Value b = input(g, "b", f32({5}));
  output(relu(x + b).named("y"));
  output(sum(x * x, {1}).named("s"));
  checkJitMatchesInterpreter(g, randomBindings(g, 1));
}

TEST_CASE("jit: random graphs of every family agree with the interpreter") {
  for (DType dt : {DType::f64, DType::f32})
    for (uint64_t seed = 0; seed < 40; ++seed) {
      testing::RandomGraphOptions o;
      o.dtype = dt;
      o.nn = seed % 2 == 0;
      o.updates = true;
      Graph random = testing::randomGraph(seed, o);
      // Train mode when the batch norms have batches to normalize over.
      Graph g = random;
      try {
        g = compiler::expandModes(random, compiler::Mode::Train);
      } catch (const Error &) {
        g = compiler::expandModes(random, compiler::Mode::Eval);
      }
      INFO("seed " << seed << (dt == DType::f32 ? " f32" : " f64"));
      checkJitMatchesInterpreter(g, randomBindings(g, static_cast<uint32_t>(seed)));
    }
}

namespace {

Graph example(const std::string &name) {
  return parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/" + name);
}

// Random bindings with labels in [0, 10) and a well-conditioned matrix %E
// (identity * 20 plus noise) when the model has one.
runtime::Bindings modelBindings(const Graph &g) {
  runtime::Bindings b = randomBindings(g, 5, -1.0, 1.0, 10);
  if (auto it = b.find("E"); it != b.end())
    for (int64_t i = 0; i < 20; ++i)
      it->second.set(i * 20 + i, it->second.at(i * 20 + i) + 20.0);
  return b;
}

std::vector<std::string> trainableParams(const Graph &g) {
  std::vector<std::string> names;
  for (NodeId p : g.params())
    if (!g.node(p).attrs.has("trainable") || g.node(p).attrs.getBool("trainable"))
      names.push_back(g.node(p).name);
  return names;
}

} // namespace

TEST_CASE("jit: whole models give the interpreter's loss and gradients") {
  for (const char *file : {"mlp.cj", "cnn.cj", "adjoint.cj", "mlp_regularized.cj"}) {
    INFO(file);
    Graph model = compiler::expandModes(example(file), compiler::Mode::Eval);
    runtime::Bindings b = modelBindings(model);
    checkJitMatchesInterpreter(model, b);
    std::string loss = model.node(model.outputs().front()).name;
    Graph gradient = compiler::grad(model, loss, trainableParams(model));
    checkJitMatchesInterpreter(gradient, b);
  }
}

TEST_CASE("jit: the plan fuses elementwise chains, folds transposes and shares LU factors") {
  Graph model = compiler::expandModes(example("mlp.cj"), compiler::Mode::Eval);
  std::string plan = compiler::emitGraph(model, compiler::EmitKind::Plan);
  INFO(plan);
  // The bias add feeds relu only: one loop computes relu(add(z, b)).
  CHECK(plan.find("= relu fusing add") != std::string::npos);
  // Without fusion every op is its own loop.
  compiler::JitOptions unfused;
  unfused.fuse = false;
  CHECK(compiler::emitGraph(model, compiler::EmitKind::Plan, unfused).find("fusing") ==
        std::string::npos);
  checkJitMatchesInterpreter(model, modelBindings(model), unfused);

  // The gradient's GEMMs read the forward matrices with transpose flags:
  // no transpose op is left to run.
  Graph gradient = compiler::grad(model, "loss", trainableParams(model));
  std::string gplan = compiler::emitGraph(gradient, compiler::EmitKind::Plan);
  INFO(gplan);
  CHECK(gplan.find("(transposed operand)") != std::string::npos);
  CHECK(gplan.find("= transpose") == std::string::npos);

  // The adjoint method's gradient solves with E and E^T: one factorization.
  Graph adjoint = example("adjoint.cj");
  Graph ag = compiler::grad(adjoint, "F", {"p"});
  std::string aplan = compiler::emitGraph(ag, compiler::EmitKind::Plan);
  INFO(aplan);
  CHECK(aplan.find("(reusing LU)") != std::string::npos);
  checkJitMatchesInterpreter(ag, modelBindings(ag));
}

TEST_CASE("jit: the arena reuses memory of dead values") {
  // A chain of 8 materialized [64, 64] results (each read by a matmul):
  // liveness lets them share a few buffers.
  Graph g("chain");
  Value x = input(g, "x", f64({64, 64}));
  Value w = input(g, "w", f64({64, 64}));
  Value h = x;
  for (int i = 0; i < 8; ++i)
    h = tanh(matmul(h, w));
  output(sum(h).named("s"));
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
  INFO(plan);
  auto pos = plan.find("arena: ");
  REQUIRE(pos != std::string::npos);
  int64_t arena = std::stoll(plan.substr(pos + 7));
  CHECK(arena > 0);
  CHECK(arena <= 3 * 64 * 64 * 8); // 16 values computed, at most 3 alive at once
  checkJitMatchesInterpreter(g, randomBindings(g, 2));
}

TEST_CASE("jit: param updates may write into the params' own buffers") {
  Graph g("step");
  Value x = input(g, "x", f32({8, 4}));
  Value w = param(g, "w", f32({4, 3}));
  Value y = matmul(x, w);
  Value loss = sum(y * y).named("loss");
  output(loss);
  update(w, w - constant(g, Tensor(f32({}), {0.01})) * matmul(transpose(x), y));
  runtime::Bindings b = randomBindings(g, 3);
  runtime::EvalResult want = runtime::interpret(g, b);
  compiler::JitOptions o;
  o.useCache = false;
  auto compiled = compiler::compileGraph(g, o);
  Tensor xs = b.at("x"), ws = b.at("w");
  Tensor out(f32({}));
  void *buffers[] = {xs.data(), ws.data(), out.data(), ws.data()}; // update in place
  compiled->call(buffers);
  CHECK(out.at(0) == doctest::Approx(want.outputs[0].at(0)).epsilon(1e-5));
  testing::checkSameTensor(ws, want.updatedParams.at("w"), "w updated in place");
  // The step is the last reader of w: it writes the update buffer itself.
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
  INFO(plan);
  CHECK(plan.find("= sub fusing mul @arg3") != std::string::npos);
}

TEST_CASE("jit: a param read after its new value is computed is updated last") {
  // nw is computed before the matmul that still reads the old w: the new
  // value must wait in the arena and be copied at the end.
  Graph g("late_read");
  Value x = input(g, "x", f64({2, 3}));
  Value w = param(g, "w", f64({3, 3}));
  Value nw = (w * 0.5).named("nw");
  output(sum(matmul(x, w)).named("s"));
  update(w, nw);
  runtime::Bindings b = randomBindings(g, 8);
  runtime::EvalResult want = runtime::interpret(g, b);
  auto compiled = compiler::compileGraph(g);
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
  INFO(plan);
  CHECK(plan.find("%nw = mul @arena") != std::string::npos);
  Tensor xs = b.at("x"), ws = b.at("w"), out(f64({}));
  void *buffers[] = {xs.data(), ws.data(), out.data(), ws.data()};
  compiled->call(buffers);
  testing::checkSameTensor(out, want.outputs[0], "s with the old w");
  testing::checkSameTensor(ws, want.updatedParams.at("w"), "w updated in place");
}

TEST_CASE("jit: the compilation cache is hit by a second compile and skips optimization") {
  auto dir = std::filesystem::temp_directory_path() /
             ("chainjit-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  compiler::JitOptions o;
  o.cacheDir = dir.string();
  Graph model = compiler::expandModes(example("mlp.cj"), compiler::Mode::Eval);
  auto cold = compiler::compileGraph(model, o);
  CHECK_FALSE(cold->times().cacheHit);
  CHECK(cold->times().optimize > 0);
  auto warm = compiler::compileGraph(model, o);
  CHECK(warm->times().cacheHit);
  CHECK(warm->times().optimize == 0);
  // Both run and agree (the same object loaded twice, in two JITDylibs).
  runtime::Bindings b = modelBindings(model);
  std::vector<const Tensor *> in;
  for (NodeId id : model.inputs())
    in.push_back(&b.at(model.node(id).name));
  std::vector<Tensor> params;
  for (NodeId id : model.params())
    params.push_back(runtime::initialParamValue(model, id));
  for (const Tensor &p : params)
    in.push_back(&p);
  CHECK(cold->run(in)[0].at(0) == warm->run(in)[0].at(0));
  // A damaged entry is a miss with a warning, not a crash (JitHardeningTest
  // has the details); --no-cache neither reads nor writes.
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    std::ofstream(entry.path(), std::ios::trunc) << "garbage";
  std::vector<std::string> warnings;
  o.onWarning = [&](const std::string &w) { warnings.push_back(w); };
  auto repaired = compiler::compileGraph(model, o);
  CHECK_FALSE(repaired->times().cacheHit);
  CHECK(repaired->times().cacheEntryDiscarded);
  CHECK(warnings.size() == 1);
  o.useCache = false;
  CHECK_FALSE(compiler::compileGraph(model, o)->times().cacheHit);
  std::filesystem::remove_all(dir);
}

TEST_CASE("jit: --check-numerics names the first op that produced NaN or Inf") {
  Graph g("bad");
  Value x = input(g, "x", f64({3}));
  Value l = log(x).named("logx");          // log(-1) = NaN
  Value y = exp(l * 2.0).named("y");
  output(sum(y).named("s"));
  runtime::Bindings b{{"x", Tensor(f64({3}), {1.0, -1.0, 2.0})}};
  compiler::JitOptions o;
  o.checkNumerics = true;
  auto exe = runtime::makeExecutable(g, runtime::Backend::Jit, o);
  CHECK_THROWS_WITH_AS(exe->run(b), doctest::Contains("log %logx : f64[3] is the first op"),
                       Error);
  // In a derivative graph, the adjoint of a forward op is named too.
  Graph dg = compiler::grad(g, "s", {"x"});
  auto dexe = runtime::makeExecutable(dg, runtime::Backend::Jit, o);
  CHECK_THROWS_WITH_AS(dexe->run(b), doctest::Contains("is the first op that produced NaN"), Error);
  // A NaN input is reported as the input.
  b["x"] = Tensor(f64({3}), {1.0, std::nan(""), 2.0});
  CHECK_THROWS_WITH_AS(exe->run(b), doctest::Contains("input %x : f64[3] contains NaN"), Error);
  // Without the check the NaN just flows to the output.
  auto plain = runtime::makeExecutable(g, runtime::Backend::Jit);
  CHECK(std::isnan(plain->run(b).outputs[0].at(0)));
}

TEST_CASE("jit: a singular solve is an error naming the node") {
  Graph g("singular");
  Value a = input(g, "A", f64({2, 2}));
  Value rhs = input(g, "b", f64({2}));
  output(solve(a, rhs).named("x"));
  runtime::Bindings b{{"A", Tensor(f64({2, 2}), {1, 2, 2, 4})},
                      {"b", Tensor(f64({2}), {1, 1})}};
  auto exe = runtime::makeExecutable(g, runtime::Backend::Jit);
  CHECK_THROWS_WITH_AS(exe->run(b), doctest::Contains("%x: solve: the matrix is singular"),
                       Error);
}

TEST_CASE("jit: emit gives LLVM IR before and after O3, assembly and an object file") {
  Graph g("tiny");
  Value x = input(g, "x", f32({1024}));
  output(relu(x * 2.0).named("y"));
  std::string ir = compiler::emitGraph(g, compiler::EmitKind::Llvm);
  CHECK(ir.find("define i32 @cj_entry") != std::string::npos);
  std::string opt = compiler::emitGraph(g, compiler::EmitKind::LlvmOpt);
  CHECK(opt.find("<") != std::string::npos); // vectorized: vector types appear
  CHECK(compiler::emitGraph(g, compiler::EmitKind::Asm).find("cj_entry:") != std::string::npos);
  CHECK(compiler::emitGraph(g, compiler::EmitKind::Obj).substr(0, 4) == "\x7f" "ELF");
}

TEST_CASE("jit: an out-of-range label is an error naming the loss, the label and its row") {
  Graph g("labels");
  Value z = input(g, "z", f32({3, 3}));
  Value labels = input(g, "labels", i32({3}));
  output(crossEntropy(z, labels).named("loss"));
  runtime::Bindings b{{"z", Tensor(f32({3, 3}))}, {"labels", Tensor(i32({3}), {1, 7, -2})}};
  std::string messages[2];
  for (auto backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
    auto exe = runtime::makeExecutable(g, backend);
    try {
      exe->run(b);
      FAIL("no error");
    } catch (const Error &e) {
      messages[backend == runtime::Backend::Jit] = e.diagnostics().front().message;
      CHECK(e.diagnostics().front().loc.node == "loss");
    }
  }
  CHECK(messages[1] == "cross_entropy: label 7 of row 1 is out of range [0, 3)");
  CHECK(messages[1] == messages[0]); // the interpreter's words
}

TEST_CASE("jit: batched products that are one GEMM are computed as one") {
  // A shared matrix times a stack of vectors (a Jacobian's directions), in
  // every transpose form, and a stack of matrices times a shared one.
  for (bool transposedA : {false, true})
    for (bool vectorsAsRows : {false, true}) {
      Graph g("stacked");
      Value a = input(g, "A", f64(transposedA ? Shape{6, 5} : Shape{5, 6}));
      Value v = input(g, "V", f64(vectorsAsRows ? Shape{7, 1, 6} : Shape{7, 6, 1}));
      Value lhs = transposedA ? transpose(a) : a;
      Value rhs = vectorsAsRows ? transpose(v, {0, 2, 1}) : v;
      output(matmul(lhs, rhs).named("y"));
      std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
      INFO(plan);
      CHECK(plan.find("gemm %y = matmul") != std::string::npos);
      CHECK(plan.find("batched products") == std::string::npos);
      checkJitMatchesInterpreter(g, randomBindings(g, 4));
    }
  Graph g("shared_rhs");
  Value x = input(g, "x", f32({3, 40, 64}));
  Value w = input(g, "w", f32({64, 32}));
  output(matmul(x, w).named("y"));
  CHECK(compiler::emitGraph(g, compiler::EmitKind::Plan).find("batched products") ==
        std::string::npos);
  checkJitMatchesInterpreter(g, randomBindings(g, 5));
  // A genuinely batched product stays batched.
  Graph h("batched");
  Value p = input(h, "p", f64({4, 3, 5}));
  Value q = input(h, "q", f64({4, 5, 2}));
  output(matmul(p, q).named("y"));
  CHECK(compiler::emitGraph(h, compiler::EmitKind::Plan).find("(4 batched products)") !=
        std::string::npos);
  checkJitMatchesInterpreter(h, randomBindings(h, 6));
}

TEST_CASE("jit: reductions over the innermost dims accumulate in registers, vectorized") {
  // A convolution's bias gradient: sum over all axes but the channel's, the
  // input fused into the loop (x * x), and mean and max alike; each with
  // the interpreter's values.
  for (DType dt : {DType::f32, DType::f64}) {
    Graph g(dt == DType::f32 ? "bias_grad_f32" : "bias_grad_f64");
    Value x = input(g, "x", TensorType(dt, {4, 3, 9, 11}));
    output(sum(x, {0, 2, 3}).named("per_channel"));
    output(sum(x * x, {2, 3}).named("fused"));
    output(mean(x, {3}).named("rows"));
    output(max(x, {1, 2, 3}).named("largest"));
    output(sum(x).named("all"));
    checkJitMatchesInterpreter(g, randomBindings(g, 11));
  }
  // The innermost run (here 784 elements per image and channel) is one
  // register reduction the vectorizer splits: vector adds in the optimized
  // module, not one scalar add and store per element. Input and result
  // both in the arena (a convolution's output summed, the sum feeding a
  // loop), as in a training step, where LLVM cannot tell them apart.
  Graph g("bias_grad");
  Value x = input(g, "x", f32({64, 1, 28, 28}));
  Value k = input(g, "k", f32({8, 1, 5, 5}));
  Value db = sum(conv2d(x, k, {1, 1}, {2, 2}), {0, 2, 3});
  output((db * 0.5f).named("out"));
  const std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
  CAPTURE(plan);
  REQUIRE(std::regex_search(plan, std::regex(R"(conv2d .*@arena\+0\n)")));
  REQUIRE(std::regex_search(plan, std::regex(R"(reduce .* = sum @arena)")));
  const std::string opt = compiler::emitGraph(g, compiler::EmitKind::LlvmOpt);
  CHECK(std::regex_search(opt, std::regex(R"(fadd reassoc <[0-9]+ x float>)")));
}
