// The memory sweep of a model's gradient (MemorySweep.h,
// gradientMemorySweep) counts what gradWithMemoryLimit (train
// --memory-limit) counts: every limit it lists is accepted and planned with
// the same recomputation, and its least limit is the least accepted.
#include "chainjit/compiler/MemorySweep.h"
#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

// x [8, 16] -> tanh(h W_l + b_l), 12 layers -> mean(h * h).
Graph sweepMlp(std::vector<std::string> &params) {
  Graph g("sweep_mlp");
  Value h = input(g, "x", TensorType{DType::f32, {8, 16}});
  for (int l = 1; l <= 12; ++l) {
    std::string s = std::to_string(l);
    Value W = param(g, "W" + s, TensorType{DType::f32, {16, 16}},
                    {{"init", "normal"}, {"scale", 0.3}, {"seed", int64_t(l)}});
    Value b = param(g, "b" + s, TensorType{DType::f32, {16}});
    params.push_back("W" + s);
    params.push_back("b" + s);
    h = tanh(matmul(h, W) + b).named("h" + s);
  }
  output(mean(h * h).named("loss"));
  return g;
}

} // namespace

TEST_CASE("gradient memory sweep: its limits are train's, down to the least train accepts") {
  std::vector<std::string> params;
  Graph g = sweepMlp(params);
  std::vector<NodeId> wrt;
  for (const std::string &p : params)
    wrt.push_back(g.lookup(p));
  compiler::GradientSweep sweep = compiler::gradientMemorySweep(g, g.lookup("loss"), wrt);
  REQUIRE(sweep.points.size() >= 3);
  CHECK(sweep.chain.workingBytes > 0);
  CHECK(sweep.points.front().recomputeCost == 0);
  for (size_t i = 0; i < sweep.points.size(); ++i) {
    const compiler::GradientSweepPoint &p = sweep.points[i];
    INFO("limit " << p.limit);
    if (i > 0) {
      CHECK(p.limit < sweep.points[i - 1].limit);
      CHECK(p.recomputeCost >= sweep.points[i - 1].recomputeCost);
    }
    CHECK(p.peakBytes <= p.limit);
    // The same bytes and the same plan as the gradient train builds.
    compiler::RecomputedGradient r = compiler::gradWithMemoryLimit(g, "loss", params, p.limit);
    CHECK(r.recomputeCost == doctest::Approx(p.recomputeCost));
    CHECK(r.peakBytes + r.chain.workingBytes == doctest::Approx(p.peakBytes));
  }
  CHECK(sweep.points.back().recomputeCost > 0);
  CHECK_THROWS_AS(compiler::gradWithMemoryLimit(g, "loss", params, sweep.points.back().limit - 1),
                  Error);
  CHECK(compiler::gradientSweepText(sweep).find("checkpoints") != std::string::npos);
  CHECK(compiler::gradientSweepSvg(sweep).find("<polyline") != std::string::npos);
}
