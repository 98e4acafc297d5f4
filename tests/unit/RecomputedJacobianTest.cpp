// Planned Jacobians within a memory limit (JacobianByPlan.h with
// PlannerOptions::recompute): each adjoint sweep the plan charges
// recomputation for follows its schedule, so the graph holds one copy of a
// segment (nodes named recompute.N) per run beyond the first, and its values
// equal the unlimited Jacobian on the interpreter and the JIT.
#include "GradCheck.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/JacobianByPlan.h"
#include "chainjit/compiler/Recomputation.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::randomBindings;

namespace {

// x [1, w] -> h + tanh(h W_l + b_l), L residual layers -> y = h V [1, k]: a
// Jacobian with few rows (k) and many columns (w), which adjoint sweeps win;
// each layer is one dense segment whose adjoint reads its tanh (its tape).
Graph deepJacobianMlp(int layers, int64_t width, int64_t k) {
  Graph g("deep_jacobian_mlp");
  Value h = input(g, "x", TensorType{DType::f64, {1, width}});
  for (int l = 1; l <= layers; ++l) {
    std::string s = std::to_string(l);
    Value W = param(g, "W" + s, TensorType{DType::f64, {width, width}},
                    {{"init", "normal"}, {"scale", 0.4}, {"seed", int64_t(l)}});
    Value b = param(g, "b" + s, TensorType{DType::f64, {width}});
    h = (h + tanh(matmul(h, W) + b)).named("h" + s);
  }
  Value V = param(g, "V", TensorType{DType::f64, {width, k}},
                  {{"init", "normal"}, {"scale", 0.4}, {"seed", int64_t(99)}});
  output(matmul(h, V).named("y"));
  return g;
}

int countNamed(const Graph &g, const std::string &prefix) {
  int n = 0;
  for (const Node &node : g.nodes())
    n += node.name.rfind(prefix, 0) == 0;
  return n;
}

// What the graph must recompute for `plan`: the runs of each segment in the
// schedules of its adjoint sweeps over ranges with tape (each a program from
// x, ReversalTable::sweepActions), of which the first is the forward pass's.
// Counted in nodes (an upper bound: a recomputed cut that nothing reads,
// such as the last one of a sweep, is dead code and removed) and in runs.
double tape(const compiler::GraphChain &gc, int a, int b) {
  double t = 0;
  for (int l = a; l <= b; ++l)
    t += gc.chain.factors[l].tapeBytes;
  return t;
}

struct Recomputed {
  int nodes = 0, runs = 0;
  double cost = 0;
};
Recomputed scheduled(const compiler::BracketingPlan &plan, const compiler::GraphChain &gc,
                     double limit) {
  std::vector<int> runs(gc.chain.size(), 0);
  Recomputed r;
  if (tape(gc, 0, int(gc.chain.size()) - 1) <= limit) // every tape kept: no schedule
    return r;
  compiler::ReversalTable table(gc.chain, limit);
  for (const auto &n : plan.nodes) {
    if ((n.step != compiler::PlanStep::Adjoint && n.step != compiler::PlanStep::AdjointLeaf) ||
        tape(gc, n.first, n.step == compiler::PlanStep::Adjoint ? n.split : n.last) == 0)
      continue;
    int last = n.step == compiler::PlanStep::Adjoint ? n.split : n.last;
    for (const auto &a : table.sweepActions(n.first, last))
      runs[a.factor] += a.kind != compiler::ReversalAction::Reverse;
  }
  for (size_t l = 0; l < runs.size(); ++l) {
    int again = std::max(0, runs[l] - 1);
    r.nodes += again * int(gc.segments[l].size());
    r.runs += again;
    r.cost += again * gc.chain.factors[l].forwardCost;
  }
  return r;
}

void checkSameOutputs(const Graph &got, const Graph &want, const runtime::Bindings &b) {
  auto g = runtime::interpret(got, b), w = runtime::interpret(want, b);
  REQUIRE(g.outputs.size() == w.outputs.size());
  for (size_t i = 0; i < w.outputs.size(); ++i)
    testing::checkSameTensor(g.outputs[i], w.outputs[i], "output " + std::to_string(i));
}

} // namespace

TEST_CASE("planned Jacobian with recomputation: the graph recomputes what the plan's schedules say") {
  Graph g = deepJacobianMlp(8, 6, 3);
  runtime::Bindings b = randomBindings(g, 11);
  Graph reference = compiler::jacobian(g, "y", "x", compiler::JacobianMode::Reverse);
  compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
  double tape = 0, largest = 0;
  for (const auto &f : gc.chain.factors) {
    tape += f.tapeBytes;
    largest = std::max(largest, f.tapeBytes);
  }
  int recomputing = 0;
  for (double limit : {tape, tape / 2, tape / 4, largest}) {
    INFO("limit " << limit << " of the tape " << tape);
    compiler::PlannerOptions o;
    o.tapeLimit = limit;
    o.recompute = true;
    compiler::BracketingPlan plan = compiler::planChain(gc.chain, o);
    INFO("plan " << plan.expression(gc.chain));
    Graph j = compiler::plannedJacobian(g, "y", "x", o, /*simplify=*/false);
    Recomputed expected = scheduled(plan, gc, limit);
    int count = countNamed(j, "recompute.");
    CHECK(count <= expected.nodes);
    CHECK(count >= expected.nodes - expected.runs);
    // What the graph recomputes is what the plan charges, less restarts
    // through layers no adjoint sweep covers (the forward pass serves them).
    CHECK(expected.cost <= plan.recomputeCost);
    CHECK((expected.cost > 0) == (plan.recomputeCost > 0));
    recomputing += count > 0;
    checkSameOutputs(j, reference, b);
    // Simplified (no common subexpressions merged), on the JIT.
    Graph simplified = compiler::plannedJacobian(g, "y", "x", o);
    CHECK(countNamed(simplified, "recompute.") == count);
    if (limit == largest)
      testing::checkJitMatchesInterpreter(simplified, b);
  }
  CHECK(recomputing == 3); // every limit below the full tape
  // The same limit without recomputation: whole tapes, no recomputed node.
  compiler::PlannerOptions held;
  held.tapeLimit = largest;
  CHECK(countNamed(compiler::plannedJacobian(g, "y", "x", held, false), "recompute.") == 0);
}

TEST_CASE("planned Jacobian with recomputation: sweeps after the first run from the input again") {
  // With adjoint steps and tangent leaves only, the plan pulls the rows of
  // tan[%y] back through three sweeps; the two over later ranges restart
  // from x (their runs of the earlier layers are recomputed nodes).
  Graph g = deepJacobianMlp(5, 16, 2);
  runtime::Bindings b = randomBindings(g, 5);
  Graph reference = compiler::jacobian(g, "y", "x", compiler::JacobianMode::Reverse);
  compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
  double largest = 0;
  for (const auto &f : gc.chain.factors)
    largest = std::max(largest, f.tapeBytes);
  compiler::PlannerOptions o;
  o.tapeLimit = 2 * largest;
  o.recompute = true;
  o.adjointLeaves = o.multiplySteps = o.tangentSteps = false;
  compiler::BracketingPlan plan = compiler::planChain(gc.chain, o);
  REQUIRE(plan.expression(gc.chain) == "adj[%h1](adj[%h2..%h3](adj[%h4..%h5](tan[%y])))");
  int later = 0;
  for (const auto &n : plan.nodes)
    later += n.step == compiler::PlanStep::Adjoint && n.first > 0 && n.recompute > 0;
  CHECK(later == 2);
  Recomputed expected = scheduled(plan, gc, *o.tapeLimit);
  // Layer 1 twice more (the restarts of both later sweeps, then the first
  // sweep's tape), layers 2 and 3 once more: all that the plan charges.
  CHECK(expected.runs == 4);
  CHECK(expected.cost == plan.recomputeCost);
  Graph j = compiler::plannedJacobian(g, "y", "x", o, /*simplify=*/false);
  int count = countNamed(j, "recompute.");
  CHECK(count <= expected.nodes);
  CHECK(count >= expected.nodes - expected.runs);
  checkSameOutputs(j, reference, b);
  testing::checkJitMatchesInterpreter(compiler::plannedJacobian(g, "y", "x", o), b);
}
