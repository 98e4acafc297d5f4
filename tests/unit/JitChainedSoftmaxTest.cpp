// A cross_entropy and the softmax of the same logits after it (a loss and
// its gradient's probabilities) are one kernel (LoweringPlan.cpp,
// chainSoftmax; cj_cross_entropy in Loss.cpp): the plan shows it, and the
// softmax is the softmax kernel's bit for bit (the same graph compiled
// without fusion runs that kernel), across groups of rows, rows in pieces,
// chunks of the batch over threads, NaN and infinite logits; the loss is
// the unfused kernel's too.
#include "ScopedSplitMode.h"

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

using namespace chainjit;

namespace {

// loss = cross_entropy(x, target), then p = softmax(x, axis) (or
// log_softmax): the order of a training step's graph.
ir::Graph lossThenSoftmax(ir::DType t, int64_t rows, int64_t classes, bool labels, int axis = 1,
                          bool log = false) {
  ir::Graph g("ce");
  ir::Value x = ir::input(g, "x", {t, {rows, classes}});
  ir::Value target = labels ? ir::input(g, "target", ir::i32({rows}))
                            : ir::input(g, "target", {t, {rows, classes}});
  ir::output(ir::crossEntropy(x, target).named("loss"));
  ir::output((log ? ir::logSoftmax(x, axis) : ir::softmax(x, axis)).named("p"));
  return g;
}

compiler::JitOptions options(bool fuse) {
  compiler::JitOptions o;
  o.useCache = false;
  o.fuse = fuse;
  return o;
}

bool sameBits(const ir::Tensor &a, const ir::Tensor &b) {
  return a.type() == b.type() && std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

} // namespace

TEST_CASE("chained softmax: the plan writes the softmax from the loss's kernel") {
  ir::Graph g = lossThenSoftmax(ir::DType::f32, 32, 10, true);
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, options(true));
  INFO(plan);
  CHECK(plan.find("cj_cross_entropy_f32 (then %p = softmax from it") != std::string::npos);
  CHECK(plan.find("cj_softmax") == std::string::npos); // no kernel of its own
  // Not along the rows, not log_softmax, not without fusion.
  for (const ir::Graph &other : {lossThenSoftmax(ir::DType::f32, 32, 10, true, 0),
                                 lossThenSoftmax(ir::DType::f32, 32, 10, true, 1, true)}) {
    std::string p = compiler::emitGraph(other, compiler::EmitKind::Plan, options(true));
    CHECK(p.find("(then ") == std::string::npos);
    CHECK(p.find("softmax_f32") != std::string::npos);
  }
  CHECK(compiler::emitGraph(g, compiler::EmitKind::Plan, options(false)).find("(then ") ==
        std::string::npos);
  // A softmax before the loss in the graph: its readers could run before
  // the loss's kernel.
  ir::Graph before("before");
  ir::Value x = ir::input(before, "x", ir::f32({8, 10}));
  ir::Value labels = ir::input(before, "labels", ir::i32({8}));
  ir::output(ir::softmax(x, 1).named("p"));
  ir::output(ir::crossEntropy(x, labels).named("loss"));
  CHECK(compiler::emitGraph(before, compiler::EmitKind::Plan, options(true)).find("(then ") ==
        std::string::npos);
}

TEST_CASE("chained softmax: the softmax kernel's values bit for bit, and the same loss") {
  // 300 rows: two chunks of the loss's sum (split over threads when forced)
  // and groups of 64 rows; 1500 classes: a row in pieces; 17: vectors and
  // tails across rows; 1: tails alone.
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-6.0, 6.0);
  for (const char *threads : {"1", "force"})
    for (int64_t rows : {5, 300})
      for (int64_t classes : {1, 17, 1500})
        for (ir::DType t : {ir::DType::f32, ir::DType::f64})
          for (bool labels : {true, false}) {
            CAPTURE(threads);
            CAPTURE(rows);
            CAPTURE(classes);
            CAPTURE(ir::dtypeName(t));
            CAPTURE(labels);
            testing::ScopedSplitMode split(threads);
            ir::Graph g = lossThenSoftmax(t, rows, classes, labels);
            ir::Tensor x({t, {rows, classes}});
            for (int64_t i = 0; i < x.numel(); ++i)
              x.set(i, u(rng));
            if (classes > 1) { // rows with NaN, +inf and -inf logits
              x.set(1 * classes + 1, nan);
              x.set(2 * classes, inf);
              x.set(3 * classes, -inf);
            }
            ir::Tensor target =
                labels ? ir::Tensor(ir::i32({rows})) : ir::Tensor({t, {rows, classes}});
            for (int64_t i = 0; i < target.numel(); ++i)
              target.set(i, labels ? double((i * 7) % classes) : 1.0 / double(classes));
            runtime::Bindings b{{"x", x}, {"target", target}};
            runtime::EvalResult fused =
                runtime::makeExecutable(g, runtime::Backend::Jit, options(true))->run(b);
            runtime::EvalResult plain =
                runtime::makeExecutable(g, runtime::Backend::Jit, options(false))->run(b);
            CHECK(sameBits(fused.outputs[1], plain.outputs[1])); // the softmax
            CHECK(sameBits(fused.outputs[0], plain.outputs[0])); // the loss
          }
}

TEST_CASE("chained softmax: a label out of range is still reported") {
  ir::Graph g = lossThenSoftmax(ir::DType::f32, 8, 10, true);
  ir::Tensor x(ir::f32({8, 10})), labels(ir::i32({8}));
  labels.set(6, 10);
  runtime::Bindings b{{"x", x}, {"target", labels}};
  auto exec = runtime::makeExecutable(g, runtime::Backend::Jit, options(true));
  CHECK_THROWS_WITH(exec->run(b), doctest::Contains("label 10"));
}
