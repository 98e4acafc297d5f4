// The indexing ops (gather, scatter_add, iota, one_hot) and the builder
// helpers built on them (segmentSum, causalMask): interpreter values against
// hand-computed ones, the JIT against the interpreter in every dtype, an
// index out of range as a run-time error naming its value and position on
// both backends, and the cost-model entries. Derivatives: IndexRulesTest.cpp.
#include "InterpTesting.h"
#include "JitTesting.h"

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <limits>
#include <thread>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::c64;
using chainjit::testing::checkClose;
using chainjit::testing::checkJitMatchesInterpreter;

namespace {

Value i32Const(Graph &g, Shape s, std::vector<double> v) {
  return constant(g, Tensor(i32(std::move(s)), v));
}

// The one output of g, interpreted.
Tensor run1(const Graph &g, const runtime::Bindings &b = {}) {
  return runtime::interpret(g, b).outputs.at(0);
}

// The message of the error that running g on `backend` throws ("" if none).
std::string runError(const Graph &g, const runtime::Bindings &b, runtime::Backend backend) {
  try {
    compiler::JitOptions o;
    o.useCache = false;
    runtime::makeExecutable(g, backend, o)->run(b);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("index ops: gather along the first, a middle and the last axis") {
  Graph g("gather");
  Value x = c64(g, {3, 2, 2}, {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23});
  output(gather(x, i32Const(g, {2, 2}, {2, 0, 2, 1})));            // [2, 2, 2, 2]
  output(gather(x, i32Const(g, {3}, {1, 1, 0}), 1));               // [3, 3, 2]
  output(gather(x, i32Const(g, {}, {1}), -1));                     // scalar index: [3, 2]
  auto r = runtime::interpret(g, {}).outputs;
  CHECK(r[0].shape() == Shape{2, 2, 2, 2});
  checkClose(r[0], {20, 21, 22, 23, 0, 1, 2, 3, 20, 21, 22, 23, 10, 11, 12, 13});
  CHECK(r[1].shape() == Shape{3, 3, 2});
  checkClose(r[1], {2, 3, 2, 3, 0, 1, 12, 13, 12, 13, 10, 11, 22, 23, 22, 23, 20, 21});
  CHECK(r[2].shape() == Shape{3, 2});
  checkClose(r[2], {1, 3, 11, 13, 21, 23});
}

TEST_CASE("index ops: scatter_add sums the slices of repeated indices") {
  Graph g("scatter");
  Value u = c64(g, {2, 3}, {1, 2, 3, 4, 5, 6});
  output(scatterAdd(u, i32Const(g, {3}, {3, 0, 3}), 4, 1));       // [2, 4]
  output(scatterAdd(u, i32Const(g, {2}, {1, 1}), 2));              // [2, 3]
  output(scatterAdd(u, i32Const(g, {2, 3}, {0, 2, 0, 1, 2, 2}), 3)); // every element: [3]
  auto r = runtime::interpret(g, {}).outputs;
  checkClose(r[0], {2, 0, 0, 4, 5, 0, 0, 10});
  checkClose(r[1], {0, 0, 0, 5, 7, 9});
  checkClose(r[2], {4, 4, 13});
}

TEST_CASE("index ops: i32 scatter_add wraps around like machine arithmetic on both backends") {
  Graph g("wrap");
  Value u = i32Const(g, {2}, {2147483647, 1});
  output(scatterAdd(u, i32Const(g, {2}, {0, 0}), 1));
  CHECK(run1(g).at(0) == -2147483648.0);
  checkJitMatchesInterpreter(g, {});
}

TEST_CASE("index ops: iota along each axis, in each dtype") {
  for (DType dt : {DType::i32, DType::f32, DType::f64}) {
    Graph g("iota");
    output(iota(g, {2, 3}, 0, dt));
    output(iota(g, {2, 3}, 1, dt));
    output(iota(g, {2, 3, 2}, -2, dt));
    auto r = runtime::interpret(g, {}).outputs;
    CHECK(r[0].dtype() == dt);
    checkClose(r[0], {0, 0, 0, 1, 1, 1});
    checkClose(r[1], {0, 1, 2, 0, 1, 2});
    checkClose(r[2], {0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2});
    checkJitMatchesInterpreter(g, {});
  }
}

TEST_CASE("index ops: one_hot puts a 1 at each index, in each dtype") {
  for (DType dt : {DType::i32, DType::f32, DType::f64}) {
    Graph g("one_hot");
    output(oneHot(i32Const(g, {2, 2}, {2, 0, 1, 2}), 3, dt));
    Tensor r = run1(g);
    CHECK(r.type() == TensorType{dt, {2, 2, 3}});
    checkClose(r, {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1});
    checkJitMatchesInterpreter(g, {});
  }
}

TEST_CASE("index ops: segmentSum sums rows into segments") {
  Graph g("segments");
  Value data = c64(g, {5, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  output(segmentSum(data, i32Const(g, {5}, {0, 2, 0, 2, 2}), 4));
  Tensor r = run1(g);
  CHECK(r.shape() == Shape{4, 2});
  checkClose(r, {6, 8, 0, 0, 19, 22, 0, 0}); // segments 1 and 3 are empty
  checkJitMatchesInterpreter(g, {});
}

TEST_CASE("index ops: causalMask keeps each row's columns up to the diagonal") {
  Graph g("causal");
  Value mask = causalMask(g, 3);
  CHECK(mask.type() == boolean({3, 3}));
  Value scores = c64(g, {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Value negInf = scalar(g, -std::numeric_limits<double>::infinity(), DType::f64);
  output(mask);
  output(softmax(where(mask, scores, negInf), 1));
  auto r = runtime::interpret(g, {}).outputs;
  checkClose(r[0], {1, 0, 0, 1, 1, 0, 1, 1, 1});
  // Row 0 attends to itself only; row 1 to columns 0 and 1.
  double e = std::exp(1.0);
  checkClose(r[1], {1, 0, 0, 1 / (1 + e), e / (1 + e), 0, 1 / (1 + e + e * e),
                    e / (1 + e + e * e), e * e / (1 + e + e * e)},
             1e-14);
  checkJitMatchesInterpreter(g, {});
}

TEST_CASE("index ops: the JIT gathers and scatters every dtype as the interpreter does") {
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::boolean}) {
    CAPTURE(dtypeName(dt));
    Graph g("every_dtype");
    Value x = input(g, "x", TensorType{dt, {4, 3, 5}});
    Value ids = input(g, "ids", i32({2, 3}));
    output(gather(x, ids, 0));
    output(gather(x, ids, 1));
    output(gather(x, ids, 2));
    if (dt != DType::boolean) {
      output(scatterAdd(x, i32Const(g, {3}, {1, 0, 1}), 2, 1));
      output(scatterAdd(x, i32Const(g, {3, 5}, {0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0}), 5, -1));
      output(segmentSum(x, i32Const(g, {4}, {2, 2, 0, 1}), 3));
    }
    runtime::Bindings b;
    Tensor xv(TensorType{dt, {4, 3, 5}});
    for (int64_t i = 0; i < xv.numel(); ++i)
      xv.set(i, dt == DType::boolean ? double(i % 3 == 0) : 0.25 * double(i) - 7);
    b["x"] = xv;
    b["ids"] = Tensor(i32({2, 3}), {0, 2, 1, 2, 2, 0});
    checkJitMatchesInterpreter(g, b);
  }
}

TEST_CASE("index ops: an index out of range names the op, the value and its position on both backends") {
  using runtime::Backend;
  Graph g("lookup");
  Value table = input(g, "table", f64({10, 2}));
  Value ids = input(g, "ids", i32({4, 2}));
  output(gather(table, ids).named("emb"));
  runtime::Bindings b{{"table", Tensor(f64({10, 2}))},
                      {"ids", Tensor(i32({4, 2}), {1, 2, 3, 4, 5, 6, 7, 12})}};
  const std::string want =
      "gather: index 12 at position [3, 1] of %ids is out of range for axis 0 of size 10";
  for (Backend backend : {Backend::Interp, Backend::Jit}) {
    std::string msg = runError(g, b, backend);
    INFO(msg);
    CHECK(msg.find(want) != std::string::npos);
    CHECK(msg.find("%emb") != std::string::npos); // where: the gather
  }
  // A negative index, and the first bad one is reported.
  b["ids"] = Tensor(i32({4, 2}), {1, 2, -1, 4, 5, 60, 7, 8});
  for (Backend backend : {Backend::Interp, Backend::Jit})
    CHECK(runError(g, b, backend).find("gather: index -1 at position [1, 0] of %ids is out of "
                                       "range for axis 0 of size 10") != std::string::npos);
  b["ids"] = Tensor(i32({4, 2}), {1, 2, 3, 4, 5, 6, 7, 9});
  for (Backend backend : {Backend::Interp, Backend::Jit})
    CHECK(runError(g, b, backend).empty());
}

TEST_CASE("index ops: scatter_add and one_hot check their indices on both backends") {
  using runtime::Backend;
  Graph g("checks");
  Value u = input(g, "u", f32({3, 2}));
  Value seg = input(g, "seg", i32({3}));
  output(segmentSum(u, seg, 2).named("sums"));
  output(oneHot(seg, 3)); // unnamed: the message names it by number
  runtime::Bindings b{{"u", Tensor(f32({3, 2}))}, {"seg", Tensor(i32({3}), {0, 2, 1})}};
  for (Backend backend : {Backend::Interp, Backend::Jit}) {
    std::string msg = runError(g, b, backend);
    INFO(msg);
    CHECK(msg.find("scatter_add: index 2 at position [1] of %seg is out of range for axis 0 "
                   "of size 2") != std::string::npos);
  }
  Graph h("one_hot");
  Value labels = input(h, "labels", i32({2}));
  output(oneHot(labels, 3));
  runtime::Bindings lb{{"labels", Tensor(i32({2}), {2, 3})}};
  for (Backend backend : {Backend::Interp, Backend::Jit}) {
    std::string msg = runError(h, lb, backend);
    INFO(msg);
    CHECK(msg.find("node #1: one_hot: index 3 at position [1] of %labels is out of range for "
                   "depth 3") != std::string::npos);
  }
}

TEST_CASE("index ops: a gather from an empty axis rejects any index, at run time") {
  Graph g("empty");
  Value x = input(g, "x", f64({0, 3}));
  output(gather(x, i32Const(g, {1}, {0})).named("y"));
  for (auto backend : {runtime::Backend::Interp, runtime::Backend::Jit})
    CHECK(runError(g, {{"x", Tensor(f64({0, 3}))}}, backend)
              .find("index 0 at position [0] of node #1 is out of range for axis 0 of size 0") !=
          std::string::npos);
}

TEST_CASE("index ops: no indices and empty operands give empty or zero results on both backends") {
  Graph g("empty_cases");
  Value x = input(g, "x", f32({4, 3}));
  Value none = i32Const(g, {0}, {});
  output(gather(x, none));                                  // [0, 3]
  output(scatterAdd(gather(x, none), none, 4));             // zeros [4, 3]
  output(oneHot(none, 5));                                  // [0, 5]
  output(gather(input(g, "e", f32({0, 3})), i32Const(g, {2}, {2, 0}), 1)); // [0, 2]
  output(iota(g, {3, 0}, 1));                               // [3, 0]
  runtime::Bindings b{{"x", Tensor(f32({4, 3}), std::vector<double>(12, 1.0))},
                      {"e", Tensor(f32({0, 3}))}};
  auto r = runtime::interpret(g, b).outputs;
  CHECK(r[0].shape() == Shape{0, 3});
  checkClose(r[1], std::vector<double>(12, 0.0));
  CHECK(r[2].shape() == Shape{0, 5});
  CHECK(r[3].shape() == Shape{0, 2});
  CHECK(r[4].shape() == Shape{3, 0});
  checkJitMatchesInterpreter(g, b);
}

TEST_CASE("index ops: cost model entries") {
  Graph g("costs");
  Value x = input(g, "x", f64({10, 4}));
  Value ids = i32Const(g, {6}, {0, 1, 2, 3, 4, 5});
  Value y = gather(tanh(x), ids);                  // [6, 4]
  Value z = scatterAdd(y, ids, 10);                // [10, 4]
  Value h = oneHot(ids, 3);
  Value t = iota(g, {2, 2});
  output(z), output(h), output(t);
  auto cost = [&](Value v, std::vector<bool> active) {
    return compiler::opCost(g, v.id(), active);
  };
  compiler::OpCost gc = cost(y, {true, false});
  CHECK(gc.tangent == 0);        // moves data
  CHECK(gc.adjoint == 24);       // the adjoint adds each of the 24 result elements once
  CHECK(gc.tapeBytes == 0);      // the indices are a const, kept anyway
  CHECK(gc.structure == compiler::JacobianStructure::Permutation);
  compiler::OpCost sc = cost(z, {true, false});
  CHECK(sc.tangent == 24);
  CHECK(sc.adjoint == 0);
  CHECK(sc.structure == compiler::JacobianStructure::Permutation);
  CHECK(cost(h, {false}).tangent == 0);
  CHECK(cost(t, {}).adjoint == 0);
  // Computed indices are kept for the adjoint.
  Graph g2("kept");
  Value x2 = input(g2, "x", f64({5}));
  Value idx = argmax(input(g2, "m", f64({3, 5})), 1);
  output(gather(x2, idx).named("picked"));
  CHECK(compiler::opCost(g2, g2.lookup("picked"), {true, false}).tapeBytes == 12);
}

// Named "Threads: ..." so that the ThreadSanitizer build runs it. The JIT's
// index kernels leave the bad index in a thread-local record: parallel calls
// of one compiled graph must each report their own.
TEST_CASE("Threads: parallel JIT calls each report their own out-of-range index") {
  Graph g("lookup");
  Value table = input(g, "table", f32({10, 3}));
  Value ids = input(g, "ids", i32({8}));
  output(gather(table, ids).named("emb"));
  auto jit = runtime::makeExecutable(g, runtime::Backend::Jit);
  // Thread t binds index 10 + t at position [t]; every call must report it.
  std::vector<int> wrong(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::vector<double> v(8, 1.0);
      v[static_cast<size_t>(t)] = 10 + t;
      runtime::Bindings b{{"table", Tensor(f32({10, 3}))}, {"ids", Tensor(i32({8}), v)}};
      const std::string want = "gather: index " + std::to_string(10 + t) + " at position [" +
                               std::to_string(t) + "] of %ids is out of range";
      for (int round = 0; round < 20; ++round)
        try {
          jit->run(b);
          ++wrong[t];
        } catch (const Error &e) {
          wrong[t] += std::string(e.what()).find(want) == std::string::npos;
        }
    });
  for (std::thread &th : threads)
    th.join();
  for (int t = 0; t < 8; ++t) {
    INFO("thread " << t);
    CHECK(wrong[t] == 0);
  }
}
