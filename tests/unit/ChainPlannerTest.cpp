// The chain-order dynamic program against exhaustive enumeration of every
// bracketing, against textbook matrix-chain optima, and on the shapes of
// chain that make forward, reverse or a mixed order win.
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/ir/Error.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <random>

using namespace chainjit;
using namespace chainjit::compiler;

namespace {

struct Candidate {
  double cost;
  double tape; // the largest tape of any adjoint step in the plan
};

// The structure (and block count) of the product of factors i..j,
// independent of bracketing.
std::pair<JacobianStructure, int64_t> rangeStructure(const JacobianChain &c, int i, int j) {
  JacobianStructure s = JacobianStructure::Identity;
  int64_t blocks = 1;
  for (int l = i; l <= j; ++l)
    s = productStructure(c.factors[l].structure, s, c.factors[l].blocks, blocks, &blocks);
  return {s, blocks};
}

// Every plan for the product of factors i..j, written independently of the
// DP: leaves, MUL, TAN and ADJ at every split, all combinations.
std::vector<Candidate> enumeratePlans(const JacobianChain &c, int i, int j) {
  std::vector<Candidate> out;
  if (i == j) {
    const ChainFactor &f = c.factors[i];
    using S = JacobianStructure;
    // A structured factor is recovered from one sweep (or none).
    auto dirs = [&](int64_t size) {
      switch (f.structure) {
      case S::Dense: return double(size);
      case S::BlockDiagonal: return double(size / f.blocks);
      case S::Diagonal: return 1.0;
      default: return 0.0;
      }
    };
    double dirsT = dirs(f.n), dirsA = dirs(f.m);
    out.push_back({dirsT * f.tangentCost, 0});
    out.push_back({dirsA * f.adjointCost, f.tapeBytes});
    return out;
  }
  auto sumOf = [&](int a, int b, double ChainFactor::*field) {
    double s = 0;
    for (int l = a; l <= b; ++l)
      s += c.factors[l].*field;
    return s;
  };
  for (int k = i; k < j; ++k) {
    auto left = enumeratePlans(c, k + 1, j), right = enumeratePlans(c, i, k);
    auto [ls, lb] = rangeStructure(c, k + 1, j);
    auto [rs, rb] = rangeStructure(c, i, k);
    double mul = productCost(c.factors[j].m, c.factors[k].m, c.factors[i].n, ls, rs, lb, rb);
    for (const Candidate &l : left)
      for (const Candidate &r : right)
        out.push_back({l.cost + r.cost + mul, std::max(l.tape, r.tape)});
    for (const Candidate &r : right)
      out.push_back({r.cost + double(c.factors[i].n) * sumOf(k + 1, j, &ChainFactor::tangentCost),
                     r.tape});
    double pulledTape = sumOf(i, k, &ChainFactor::tapeBytes);
    for (const Candidate &l : left)
      out.push_back({l.cost + double(c.factors[j].m) * sumOf(i, k, &ChainFactor::adjointCost),
                     std::max(l.tape, pulledTape)});
  }
  return out;
}

double bestEnumerated(const JacobianChain &c, std::optional<double> limit) {
  double best = std::numeric_limits<double>::infinity();
  for (const Candidate &cand : enumeratePlans(c, 0, int(c.size()) - 1))
    if (!limit || cand.tape <= *limit)
      best = std::min(best, cand.cost);
  return best;
}

JacobianChain randomChain(std::mt19937 &rng, int q, bool structured = false) {
  std::uniform_int_distribution<int> size(1, 12), cost(1, 40), tape(0, 30), kind(0, 4);
  JacobianChain c;
  int n = size(rng);
  for (int l = 0; l < q; ++l) {
    ChainFactor f;
    f.n = n;
    f.m = n = size(rng);
    // Costs roughly proportional to the sizes, as for real segments, plus noise.
    f.tangentCost = double(cost(rng)) * double(f.m) / 4.0 + 1;
    f.adjointCost = double(cost(rng)) * double(f.n) / 4.0 + 1;
    f.tapeBytes = tape(rng);
    if (structured) {
      // Square factors may be identity, permutation or diagonal.
      int k = kind(rng);
      if (k == 3 && f.n % 2 == 0) { // two blocks
        f.m = n = 2 * (1 + size(rng) / 2);
        f.structure = JacobianStructure::BlockDiagonal;
        f.blocks = 2;
      } else if (k < 3) {
        f.m = n = f.n;
        f.structure = k == 0   ? JacobianStructure::Identity
                      : k == 1 ? JacobianStructure::Permutation
                               : JacobianStructure::Diagonal;
      }
    }
    c.factors.push_back(f);
  }
  return c;
}

} // namespace

TEST_CASE("chain DP equals exhaustive enumeration on random chains up to 7 factors") {
  std::mt19937 rng(20261128);
  int checked = 0;
  for (int q = 1; q <= 7; ++q)
    for (int trial = 0; trial < (q <= 5 ? 40 : 8); ++trial) {
      JacobianChain c = randomChain(rng, q);
      INFO("q = " << q << ", trial " << trial);
      BracketingPlan p = planChain(c);
      CHECK(p.cost == bestEnumerated(c, std::nullopt));
      // With a tape limit: a random fraction of the total tape.
      double total = 0;
      for (const auto &f : c.factors)
        total += f.tapeBytes;
      std::uniform_real_distribution<double> frac(0.0, 1.0);
      double limit = std::floor(total * frac(rng));
      PlannerOptions o;
      o.tapeLimit = limit;
      BracketingPlan limited = planChain(c, o);
      CHECK(limited.cost == bestEnumerated(c, limit));
      CHECK(limited.tapeBytes <= limit);
      CHECK(limited.cost >= p.cost);
      ++checked;
    }
  CHECK(checked == 5 * 40 + 2 * 8);
}

TEST_CASE("chain DP equals exhaustive enumeration on structured chains") {
  std::mt19937 rng(7);
  for (int q = 1; q <= 6; ++q)
    for (int trial = 0; trial < 20; ++trial) {
      JacobianChain c = randomChain(rng, q, /*structured=*/true);
      INFO("q = " << q << ", trial " << trial);
      CHECK(planChain(c).cost == bestEnumerated(c, std::nullopt));
      PlannerOptions o;
      o.tapeLimit = 15;
      CHECK(planChain(c, o).cost == bestEnumerated(c, 15.0));
    }
}

TEST_CASE("matrix chain: the textbook instances (CLRS 15.2, and others)") {
  PlannerOptions given;
  given.matricesGiven = true;
  given.tangentSteps = given.adjointSteps = false;
  {
    JacobianChain c = denseMatrixChain({30, 35, 15, 5, 10, 20, 25});
    BracketingPlan p = planChain(c, given);
    CHECK(p.cost == 15125);
    CHECK(p.expression(c) == "((A1 * (A2 * A3)) * ((A4 * A5) * A6))");
  }
  {
    JacobianChain c = denseMatrixChain({10, 100, 5, 50});
    BracketingPlan p = planChain(c, given);
    CHECK(p.cost == 7500);
    CHECK(p.expression(c) == "((A1 * A2) * A3)");
  }
  {
    JacobianChain c = denseMatrixChain({40, 20, 30, 10, 30});
    CHECK(planChain(c, given).cost == 26000);
  }
  {
    JacobianChain c = denseMatrixChain({5, 10, 3, 12, 5, 50, 6});
    CHECK(planChain(c, given).cost == 2010);
  }
}

TEST_CASE("chain DP: a gradient chooses reverse, a tall chain forward") {
  // Square 100x100 dense layers ending in a scalar: m_q = 1.
  JacobianChain grad;
  for (int l = 0; l < 4; ++l)
    grad.factors.push_back({100, l == 3 ? 1 : 100, 1.0e4, 1.0e4, 800, JacobianStructure::Dense, ""});
  grad.factors[3].tangentCost = grad.factors[3].adjointCost = 100;
  BracketingPlan g = planChain(grad);
  CHECK(g.expression(grad) == "adj[F1..F4]");
  CHECK(g.cost == 1 * (3.0e4 + 100));

  // One input, many outputs: forward.
  JacobianChain tall;
  for (int l = 0; l < 4; ++l)
    tall.factors.push_back({l == 0 ? 1 : 100, 100, 100, 100, 800, JacobianStructure::Dense, ""});
  tall.factors[0].tangentCost = tall.factors[0].adjointCost = 100;
  BracketingPlan t = planChain(tall);
  CHECK(t.expression(tall) == "tan[F1..F4]");
}

TEST_CASE("chain DP: wide-narrow-wide beats both pure modes") {
  // 2000 -> 20 -> 2000, dense W v then tanh (costs per direction = m n).
  JacobianChain c;
  c.factors.push_back({2000, 20, 2000.0 * 20, 2000.0 * 20, 8 * 2000, JacobianStructure::Dense, ""});
  c.factors.push_back({20, 2000, 20.0 * 2000, 20.0 * 2000, 8 * 20, JacobianStructure::Dense, ""});
  ChainCostSummary s = summarizeChain(c);
  CHECK(s.pureTangent.cost == 2000.0 * (2 * 40000));
  CHECK(s.pureAdjoint.cost == 2000.0 * (2 * 40000));
  // Accumulate F1' through its narrow side (20 adjoint sweeps), then push its
  // 2000 columns through F2: 20 * 40000 + 2000 * 40000.
  CHECK(s.optimum.cost == 20 * 40000.0 + 2000 * 40000.0);
  CHECK(s.optimum.expression(c) == "tan[F2](adj[F1])");
  // Preaccumulating both (20 sweeps each) and multiplying costs 2000*20*2000 more.
  CHECK(s.preaccumulate.cost == 2 * 20 * 40000.0 + 2000.0 * 20 * 2000);
  CHECK(s.optimum.cost < s.pureTangent.cost / 1.9);
}

TEST_CASE("chain DP: structure makes diagonal factors cheap") {
  // dense 50x50, elementwise (diagonal), dense 50x50.
  JacobianChain c;
  c.factors.push_back({50, 50, 2500, 2500, 0, JacobianStructure::Dense, ""});
  c.factors.push_back({50, 50, 50, 50, 0, JacobianStructure::Diagonal, ""});
  c.factors.push_back({50, 50, 2500, 2500, 0, JacobianStructure::Dense, ""});
  PlannerOptions pre;
  pre.tangentSteps = pre.adjointSteps = false;
  BracketingPlan p = planChain(c, pre);
  // Leaves: 50*2500 + 50 + 50*2500; products: diag*dense 2500, dense*dense 125000.
  CHECK(p.cost == 125000 + 50 + 125000 + 2500 + 125000);
  CHECK(productCost(50, 50, 50, JacobianStructure::Diagonal, JacobianStructure::Dense) == 2500);
  CHECK(productCost(50, 50, 50, JacobianStructure::Identity, JacobianStructure::Dense) == 0);
  CHECK(productCost(50, 50, 50, JacobianStructure::Permutation, JacobianStructure::Dense) == 125000);
  CHECK(productCost(50, 50, 50, JacobianStructure::Diagonal, JacobianStructure::Diagonal) == 50);
}

TEST_CASE("chain DP: the adjoint method picks one transposed solve") {
  // F = c^T E^-1 b(p): factors db/dp (N x M), E^-1 (N x N, a solve costs N^2
  // per direction once factorized), c^T (1 x N).
  const double N = 200, M = 1000;
  JacobianChain c;
  c.factors.push_back({int64_t(M), int64_t(N), N * M, N * M, 8 * M, JacobianStructure::Dense, "db/dp"});
  c.factors.push_back({int64_t(N), int64_t(N), N * N, N * N, 8 * N * N, JacobianStructure::Dense, "solve"});
  c.factors.push_back({int64_t(N), 1, N, N, 8 * N, JacobianStructure::Dense, "c^T"});
  BracketingPlan p = planChain(c);
  CHECK(p.expression(c) == "adj[db/dp..c^T]");
  // One adjoint sweep: exactly one transposed solve (cost N^2), not M solves.
  CHECK(p.cost == N + N * N + N * M);
}

TEST_CASE("chain DP: tape limit forces tangent where adjoint would win") {
  JacobianChain c;
  c.factors.push_back({100, 100, 1e4, 1e4, 1000, JacobianStructure::Dense, ""});
  c.factors.push_back({100, 1, 100, 100, 10, JacobianStructure::Dense, ""});
  CHECK(planChain(c).expression(c) == "adj[F1..F2]");
  PlannerOptions o;
  o.tapeLimit = 500;
  BracketingPlan p = planChain(c, o);
  CHECK(p.tapeBytes <= 500);
  CHECK(p.count(PlanStep::Adjoint) == 0);
  // Pure tangent n1 (t1 + t2) = 100 * (1e4 + 100); MUL would add 1e4 more.
  CHECK(p.cost == 1010000);
}

TEST_CASE("chain files: parsing and errors with file:line:col") {
  JacobianChain c = parseChainText("# n m t a e\n4 3 12 12 96\n\n3 1 3 3 24  # scalar\n", "x.chain");
  REQUIRE(c.size() == 2);
  CHECK(c.factors[1].m == 1);
  CHECK(c.factors[0].tapeBytes == 96);
  CHECK_THROWS_WITH_AS(parseChainText("4 3 12\n", "x.chain"),
                       doctest::Contains("x.chain:1:1: error: expected 'n m t a [e [f [x]]]'"),
                       Error);
  // The optional forward cost and input bytes: defaults t and 8 n.
  CHECK(c.factors[0].forwardCost == 12);
  CHECK(c.factors[0].inputBytes == 32);
  JacobianChain fx = parseChainText("4 3 12 12 96 7 5\n3 1 3 3 24 2\n", "x.chain");
  CHECK(fx.factors[0].forwardCost == 7);
  CHECK(fx.factors[0].inputBytes == 5);
  CHECK(fx.factors[1].forwardCost == 2);
  CHECK(fx.factors[1].inputBytes == 24);
  CHECK_THROWS_WITH_AS(parseChainText("4 3 1 1 1 1 1 1\n", "x.chain"),
                       doctest::Contains("(4 to 7 numbers), got 8"), Error);
  CHECK_THROWS_WITH_AS(parseChainText("4 3 1 1\n2 1 1 1\n", "x.chain"),
                       doctest::Contains("x.chain:2:1: error: n = 2 does not match"), Error);
  CHECK_THROWS_WITH_AS(parseChainText("4 3 one 1\n", "x.chain"),
                       doctest::Contains("x.chain:1:5: error: expected a number, got 'one'"), Error);
  CHECK_THROWS_WITH_AS(parseChainText("# nothing\n", "x.chain"),
                       doctest::Contains("no factors"), Error);
  CHECK_THROWS_WITH_AS(parseChainText("4.5 3 1 1\n", "x.chain"),
                       doctest::Contains("x.chain:1:1: error: n must be a positive integer"), Error);
  CHECK_THROWS_AS(parseChainFile("/nonexistent/x.chain"), Error);
}
