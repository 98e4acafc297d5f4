// Jacobians emitted by the chain-order plan: they agree with pure forward
// and pure reverse accumulation, and the emitted graph performs exactly the
// sweeps and products of the plan.
#include "GradCheck.h"
#include "RandomGraph.h"

#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;
using chainjit::testing::valueOf;

namespace {

std::vector<double> jacobianValues(const Graph &f, const std::string &of, const std::string &wrt,
                                   compiler::JacobianMode mode, const runtime::Bindings &b) {
  Graph j = compiler::jacobian(f, of, wrt, mode);
  return valueOf(j, b, "jacobian." + of + "." + wrt).toDoubles();
}

int countNamed(const Graph &g, const std::string &prefix) {
  int n = 0;
  for (const Node &node : g.nodes())
    n += node.name.rfind(prefix, 0) == 0;
  return n;
}

// The sweeps and products a plan should emit (identity leaves emit none).
struct StepCounts {
  int tangent = 0, adjoint = 0, products = 0;
};
StepCounts expectedSteps(const compiler::JacobianChain &c, const compiler::BracketingPlan &p) {
  using compiler::PlanStep;
  StepCounts s;
  std::vector<bool> identity(p.nodes.size(), false);
  for (size_t i = 0; i < p.nodes.size(); ++i) {
    const auto &n = p.nodes[i];
    bool leafIdentity = (n.step == PlanStep::TangentLeaf || n.step == PlanStep::AdjointLeaf) &&
                        c.factors[n.first].structure == compiler::JacobianStructure::Identity;
    identity[i] = leafIdentity;
    if (n.step == PlanStep::TangentLeaf && !leafIdentity)
      ++s.tangent;
    if (n.step == PlanStep::AdjointLeaf && !leafIdentity)
      ++s.adjoint;
    if (n.step == PlanStep::Tangent)
      ++s.tangent;
    if (n.step == PlanStep::Adjoint)
      ++s.adjoint;
    if (n.step == PlanStep::Multiply) {
      if (identity[n.left] && identity[n.right])
        identity[i] = true;
      else if (!identity[n.left] && !identity[n.right])
        ++s.products;
    }
  }
  return s;
}

// x -> tanh(W_1 x) -> ... with the given widths (f64).
Graph tanhChain(const std::vector<int64_t> &widths) {
  Graph g("tanh_chain");
  Value v = input(g, "x", f64({widths.front()}));
  for (size_t l = 1; l < widths.size(); ++l) {
    Value W = param(g, "W" + std::to_string(l), f64({widths[l], widths[l - 1]}),
                    {{"init", "normal"}, {"scale", 0.5}, {"seed", int64_t(l)}});
    v = tanh(matmul(W, v)).named("v" + std::to_string(l));
  }
  output(v.named("y"));
  return g;
}

void checkModesAgree(const Graph &f, const std::string &of, const std::string &wrt,
                     const runtime::Bindings &b, double tol) {
  auto fwd = jacobianValues(f, of, wrt, compiler::JacobianMode::Forward, b);
  auto rev = jacobianValues(f, of, wrt, compiler::JacobianMode::Reverse, b);
  auto opt = jacobianValues(f, of, wrt, compiler::JacobianMode::Optimal, b);
  REQUIRE(fwd.size() == rev.size());
  REQUIRE(fwd.size() == opt.size());
  for (size_t i = 0; i < fwd.size(); ++i) {
    INFO("element " << i);
    CHECK(testing::relativeError(rev[i], fwd[i]) <= tol);
    CHECK(testing::relativeError(opt[i], fwd[i]) <= tol);
  }
}

} // namespace

TEST_CASE("planned Jacobian: forward, reverse and the optimal plan agree on 200 random graphs") {
  testing::RandomGraphOptions o;
  o.dtype = DType::f64;
  o.smoothOnly = true;
  o.comparisons = false;
  o.numOps = 10;
  int checked = 0;
  for (uint64_t seed = 1; checked < 200 && seed < 2000; ++seed) {
    Graph g = testing::randomGraph(seed, o);
    // The first float input and the last float output that depends on it.
    std::optional<NodeId> x;
    for (NodeId i : g.inputs())
      if (isFloat(g.type(i).dtype) && g.type(i).numel() > 0) {
        x = i;
        break;
      }
    if (!x)
      continue;
    auto reach = compiler::dependsOn(g, {*x});
    std::optional<NodeId> y;
    for (NodeId out : g.outputs())
      if (reach[out] && isFloat(g.type(out).dtype) && g.type(out).numel() > 0)
        y = out;
    if (!y)
      continue;
    if (g.node(*y).name.empty())
      g.setNodeName(*y, "chosen_output");
    INFO("seed " << seed);
    checkModesAgree(g, g.node(*y).name, g.node(*x).name, randomBindings(g, uint32_t(seed)), 1e-9);
    ++checked;
  }
  CHECK(checked == 200);
}

TEST_CASE("planned Jacobian: the emitted graph performs exactly the plan's sweeps and products") {
  for (const auto &widths : std::vector<std::vector<int64_t>>{
           {30, 3, 30}, {20, 2, 2, 20}, {4, 40, 1}, {1, 30, 30}, {12, 12, 12, 12}}) {
    Graph f = tanhChain(widths);
    compiler::GraphChain gc = compiler::extractChain(f, "y", {"x"});
    compiler::BracketingPlan plan = compiler::planChain(gc.chain);
    INFO("widths " << widths.size() << ", plan " << plan.expression(gc.chain));
    Graph j = compiler::jacobian(f, "y", "x", compiler::JacobianMode::Optimal, /*simplify=*/false);
    StepCounts want = expectedSteps(gc.chain, plan);
    CHECK(countNamed(j, "seed.tangent.") == want.tangent);
    CHECK(countNamed(j, "seed.adjoint.") == want.adjoint);
    CHECK(countNamed(j, "product.") == want.products);
    checkModesAgree(f, "y", "x", randomBindings(f, 5), 1e-10);
  }
}

TEST_CASE("planned Jacobian: segments, sizes and structure of a layered chain") {
  Graph f = tanhChain({30, 3, 30});
  compiler::GraphChain gc = compiler::extractChain(f, "y", {"x"});
  // matmul, tanh, matmul, tanh: every node on the path is a cut.
  REQUIRE(gc.chain.size() == 4);
  CHECK(gc.chain.factors[0].n == 30);
  CHECK(gc.chain.factors[0].m == 3);
  CHECK(gc.chain.factors[1].structure == compiler::JacobianStructure::Diagonal);
  CHECK(gc.chain.factors[2].m == 30);
  CHECK(gc.chain.factors[0].tangentCost == 90);
  // Wide-narrow-wide: neither pure mode; the optimum goes through the
  // 3-wide bottleneck.
  compiler::ChainCostSummary s = compiler::summarizeChain(gc.chain);
  CHECK(s.optimum.cost < s.pureTangent.cost);
  CHECK(s.optimum.cost < s.pureAdjoint.cost);
}

TEST_CASE("planned Jacobian: a gradient chain chooses reverse, several wrt values") {
  Graph g("mlp");
  Value x = input(g, "x", f64({4, 5}));
  Value W = param(g, "W", f64({5, 3}), {{"init", "normal"}});
  Value b = param(g, "b", f64({3}), {{"init", "normal"}});
  Value h = tanh(matmul(x, W) + b);
  output(sum(h * h).named("loss"));
  compiler::GraphChain gc = compiler::extractChain(g, "loss", {"W", "b"});
  CHECK(gc.chain.factors.front().n == 18);
  CHECK(gc.chain.factors.back().m == 1);
  compiler::BracketingPlan p = compiler::planChain(gc.chain);
  CHECK(p.count(compiler::PlanStep::Tangent) == 0);
  CHECK(p.count(compiler::PlanStep::TangentLeaf) == 0);
  CHECK(p.expression(gc.chain).rfind("adj[", 0) == 0);
}

TEST_CASE("planned Jacobian: the adjoint method uses one transposed solve") {
  Graph g("adjoint");
  const int64_t N = 6, M = 40;
  Value E = input(g, "E", f64({N, N}));
  Value c = input(g, "c", f64({N}));
  Value p = param(g, "p", f64({M}), {{"init", "normal"}});
  Value B = param(g, "B", f64({N, M}), {{"init", "normal"}, {"trainable", false}});
  Value v = solve(E, tanh(matmul(B, p)));
  output(sum(c * v).named("F"));
  compiler::GraphChain gc = compiler::extractChain(g, "F", {"p"});
  compiler::BracketingPlan plan = compiler::planChain(gc.chain);
  // Pure reverse: one adjoint sweep through everything, so one solve with E^T.
  CHECK(plan.count(compiler::PlanStep::Tangent) + plan.count(compiler::PlanStep::TangentLeaf) == 0);
  Graph j = compiler::jacobian(g, "F", "p", compiler::JacobianMode::Optimal);
  int solves = 0;
  for (const Node &n : j.nodes())
    solves += n.kind == OpKind::Solve;
  CHECK(solves == 2); // the primal solve and one transposed solve
  runtime::Bindings b = randomBindings(g, 11);
  Tensor &e = b.at("E");
  for (int64_t i = 0; i < N; ++i)
    e.set(i * N + i, e.at(i * N + i) + 4.0); // well conditioned
  checkModesAgree(g, "F", "p", b, 1e-9);
}

TEST_CASE("chain extraction: masks are not active, elementwise forks stay diagonal") {
  // leaky relu between two matmuls: where(x > 0, x, 0.1 x).
  Graph g("leaky");
  Value x = input(g, "x", f64({6}));
  Value W1 = param(g, "W1", f64({5, 6}), {{"init", "normal"}});
  Value W2 = param(g, "W2", f64({4, 5}), {{"init", "normal"}});
  Value z = matmul(W1, x).named("z");
  Value a = where(greater(z, scalar(g, 0.0, DType::f64)), z, z * 0.1).named("a");
  output(matmul(W2, a).named("y"));
  compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
  REQUIRE(gc.chain.size() == 3);
  CHECK(gc.chain.factors[1].label == "%a");
  CHECK(gc.chain.factors[1].structure == compiler::JacobianStructure::Diagonal);
  // The comparison is not on a derivative path: it is in no segment's cost.
  for (NodeId v : gc.segments[1])
    CHECK(g.node(v).kind != OpKind::Greater);
  checkModesAgree(g, "y", "x", randomBindings(g, 2), 1e-10);
}

TEST_CASE("planned Jacobian: a batch processed row by row is block-diagonal") {
  // y = tanh(x W1) W2 for a batch of 8 rows: each row depends on its own row.
  Graph g("batch");
  Value x = input(g, "x", f64({8, 5}));
  Value W1 = param(g, "W1", f64({5, 4}), {{"init", "normal"}, {"seed", 1}});
  Value W2 = param(g, "W2", f64({4, 3}), {{"init", "normal"}, {"seed", 2}});
  Value h = tanh(matmul(x, W1)).named("h");
  output(softmax(matmul(h, W2)).named("y"));
  compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
  REQUIRE(gc.chain.size() == 4);
  CHECK(gc.chain.factors[0].structure == compiler::JacobianStructure::BlockDiagonal);
  CHECK(gc.chain.factors[0].blocks == 8);
  CHECK(gc.chain.factors[1].structure == compiler::JacobianStructure::Diagonal);
  CHECK(gc.chain.factors[3].structure == compiler::JacobianStructure::BlockDiagonal);
  compiler::BracketingPlan plan = compiler::planChain(gc.chain);
  // Block structure makes the optimum far cheaper than either pure mode.
  compiler::ChainCostSummary s = compiler::summarizeChain(gc.chain);
  CHECK(s.optimum.cost * 4 < std::min(s.pureTangent.cost, s.pureAdjoint.cost));
  Graph j = compiler::jacobian(g, "y", "x", compiler::JacobianMode::Optimal, /*simplify=*/false);
  StepCounts want = expectedSteps(gc.chain, plan);
  CHECK(countNamed(j, "seed.tangent.") == want.tangent);
  CHECK(countNamed(j, "seed.adjoint.") == want.adjoint);
  CHECK(countNamed(j, "product.") == want.products);
  checkModesAgree(g, "y", "x", randomBindings(g, 3), 1e-10);
  // A weight shared by every row couples them: with respect to W1 it is dense.
  CHECK(compiler::extractChain(g, "y", {"W1"}).chain.factors[0].structure ==
        compiler::JacobianStructure::Dense);
}
