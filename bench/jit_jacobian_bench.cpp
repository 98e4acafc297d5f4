// Full Jacobians (f64) of chains of tanh(W v) layers (issue 4, "Performance"):
// the widths 2000-20-2000 and 1000-10-10-1000, each built as a
// compiler::jacobian graph with JacobianMode::Optimal, Forward and Reverse,
// compiled with compileGraph and timed (medians of interleaved samples).
// Printed next to each: the cost model's predicted cost (fused multiply-adds,
// ChainPlanner's summary) and whether the measured ranking agrees with the
// predicted one; and a baseline, "the forward pass plus the optimal dense
// products done directly with BLAS": the same bracketing as the optimal plan
// evaluated on the factor Jacobians themselves (W given, tanh' diagonals from
// the forward pass), dense products by cblas_dgemm, diagonal ones as scalings.
//
//   ./build/bench/jit_jacobian_bench [--results FILE] [--profile CHAIN MODE SECONDS]
//
// Exit status 1 if a compiled Jacobian disagrees with the baseline.
#include "BenchModels.h"
#include "BenchSupport.h"

#include <chainjit/chainjit.h>

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace chainjit;
using benchsupport::buildChain;
using benchsupport::chainName;
using benchsupport::fmtTime;
using benchsupport::Timed;

namespace {

struct Problem {
  std::vector<int64_t> widths;
  std::vector<double> x;
  std::vector<std::vector<double>> W; // row-major [w_l, w_{l-1}]
  explicit Problem(std::vector<int64_t> w) : widths(std::move(w)) {
    std::mt19937 rng(11);
    std::normal_distribution<double> nd(0, 1);
    x.resize(size_t(widths[0]));
    for (auto &e : x)
      e = nd(rng);
    for (size_t l = 1; l < widths.size(); ++l) {
      std::vector<double> m(size_t(widths[l] * widths[l - 1]));
      double s = 1.0 / std::sqrt(double(widths[l - 1])); // keeps tanh out of saturation
      for (auto &e : m)
        e = s * nd(rng);
      W.push_back(std::move(m));
    }
  }
};

// A compiled Jacobian graph with its buffers.
struct Compiled {
  std::unique_ptr<compiler::CompiledGraph> cg;
  std::vector<double> y, J;
  std::vector<void *> args;
  Compiled(const ir::Graph &g, Problem &p) {
    compiler::JitOptions o;
    o.useCache = false;
    cg = compiler::compileGraph(g, o);
    int param = 0;
    for (const auto &a : cg->arguments()) {
      switch (a.role) {
      case compiler::ArgumentRole::Input:
        args.push_back(p.x.data());
        break;
      case compiler::ArgumentRole::Param:
        args.push_back(p.W.at(size_t(param++)).data()); // W1, W2, ... in graph order
        break;
      case compiler::ArgumentRole::Output:
        if (a.name.find("jacobian.") != std::string::npos) { // names may start with %
          J.resize(size_t(a.type.numel()));
          args.push_back(J.data());
        } else {
          y.resize(size_t(a.type.numel()));
          args.push_back(y.data());
        }
        break;
      case compiler::ArgumentRole::Update:
        throw std::runtime_error("unexpected update");
      }
    }
  }
  void run() { cg->call(args.data()); }
};

// A factor's Jacobian for the baseline: a dense matrix (rows x cols) or a diagonal.
struct Mat {
  int64_t rows = 0, cols = 0;
  bool diagonal = false;
  const double *data = nullptr; // borrowed (a W or a tanh' vector) ...
  std::vector<double> own;      // ... or owned
  const double *p() const { return own.empty() ? data : own.data(); }
};

// A * B with BLAS for dense x dense, scalings for diagonals.
Mat multiply(const Mat &A, const Mat &B) {
  Mat C;
  C.rows = A.rows;
  C.cols = B.cols;
  if (A.diagonal && B.diagonal) {
    C.diagonal = true;
    C.own.resize(size_t(A.rows));
    for (int64_t i = 0; i < A.rows; ++i)
      C.own[size_t(i)] = A.p()[i] * B.p()[i];
  } else if (A.diagonal) { // scale B's rows
    C.own.resize(size_t(B.rows * B.cols));
    for (int64_t i = 0; i < B.rows; ++i)
      for (int64_t j = 0; j < B.cols; ++j)
        C.own[size_t(i * B.cols + j)] = A.p()[i] * B.p()[i * B.cols + j];
  } else if (B.diagonal) { // scale A's columns
    C.own.resize(size_t(A.rows * A.cols));
    for (int64_t i = 0; i < A.rows; ++i)
      for (int64_t j = 0; j < A.cols; ++j)
        C.own[size_t(i * A.cols + j)] = A.p()[i * A.cols + j] * B.p()[j];
  } else {
    C.own.resize(size_t(A.rows * B.cols));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(A.rows), int(B.cols), int(A.cols),
                1.0, A.p(), int(A.cols), B.p(), int(B.cols), 0.0, C.own.data(), int(B.cols));
  }
  return C;
}

// The baseline: the forward pass (dgemv, tanh, keeping tanh' = 1 - y^2),
// then the optimal plan's bracketing evaluated on the factor Jacobians.
struct Baseline {
  Problem &p;
  const compiler::BracketingPlan &plan;
  std::vector<std::vector<double>> z, d; // per layer: pre-activation, tanh'
  std::vector<double> J;
  Baseline(Problem &p, const compiler::BracketingPlan &plan) : p(p), plan(plan) {
    for (size_t l = 1; l < p.widths.size(); ++l) {
      z.emplace_back(size_t(p.widths[l]));
      d.emplace_back(size_t(p.widths[l]));
    }
  }
  // Factor 2(l-1) is W_l (dense), factor 2(l-1)+1 the tanh' diagonal of layer l.
  Mat factor(int f) const {
    Mat m;
    size_t l = size_t(f / 2);
    m.rows = p.widths[l + 1];
    if (f % 2 == 0) {
      m.cols = p.widths[l];
      m.data = p.W[l].data();
    } else {
      m.cols = m.rows;
      m.diagonal = true;
      m.data = d[l].data();
    }
    return m;
  }
  Mat eval(int node) const {
    const auto &n = plan.nodes.at(size_t(node));
    switch (n.step) {
    case compiler::PlanStep::Given:
    case compiler::PlanStep::TangentLeaf:
    case compiler::PlanStep::AdjointLeaf:
      return factor(n.first);
    case compiler::PlanStep::Multiply:
      return multiply(eval(n.left), eval(n.right));
    case compiler::PlanStep::Tangent: { // X = F_k..F_i, then F_l X for l = k+1..j
      Mat X = eval(n.right);
      for (int l = n.split + 1; l <= n.last; ++l)
        X = multiply(factor(l), X);
      return X;
    }
    case compiler::PlanStep::Adjoint: { // Y = F_j..F_(k+1), then Y F_l for l = k..i
      Mat Y = eval(n.left);
      for (int l = n.split; l >= n.first; --l)
        Y = multiply(Y, factor(l));
      return Y;
    }
    }
    throw std::runtime_error("bad plan node");
  }
  void run() {
    const double *v = p.x.data();
    for (size_t l = 0; l + 1 < p.widths.size(); ++l) {
      int rows = int(p.widths[l + 1]), cols = int(p.widths[l]);
      cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0, p.W[l].data(), cols, v, 1, 0.0,
                  z[l].data(), 1);
      for (int i = 0; i < rows; ++i) {
        double t = std::tanh(z[l][size_t(i)]);
        z[l][size_t(i)] = t;
        d[l][size_t(i)] = 1 - t * t;
      }
      v = z[l].data();
    }
    Mat r = eval(int(plan.nodes.size()) - 1);
    if (r.diagonal || r.own.empty())
      throw std::runtime_error("baseline: the plan's root is not a dense product");
    J = std::move(r.own);
  }
};

double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b) {
  if (a.size() != b.size())
    return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

const char *modeName(compiler::JacobianMode m) {
  switch (m) {
  case compiler::JacobianMode::Optimal:
    return "optimal";
  case compiler::JacobianMode::Forward:
    return "forward";
  case compiler::JacobianMode::Reverse:
    return "reverse";
  }
  return "?";
}

const std::vector<std::vector<int64_t>> kChains = {{2000, 20, 2000}, {1000, 10, 10, 1000}};
const compiler::JacobianMode kModes[] = {compiler::JacobianMode::Optimal,
                                         compiler::JacobianMode::Forward,
                                         compiler::JacobianMode::Reverse};

} // namespace

int main(int argc, char **argv) {
  benchsupport::startLikeTheCli(argv); // the kernels and threads the CLI runs
  std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress shows when piped
  std::string resultsPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc) {
      resultsPath = argv[++i];
    } else if (a == "--profile" && i + 3 < argc) { // CHAIN(0/1) MODE(0 opt,1 fwd,2 rev) SECONDS
      Problem p(kChains.at(size_t(std::atoi(argv[i + 1]))));
      auto mode = kModes[std::atoi(argv[i + 2]) % 3];
      Compiled c(compiler::jacobian(buildChain(p.widths), "y", "x", mode), p);
      double t0 = benchsupport::now(), secs = std::atof(argv[i + 3]);
      int n = 0;
      for (; benchsupport::now() - t0 < secs; ++n)
        c.run();
      fmt::print("{} {}: {} per Jacobian\n", chainName(p.widths), modeName(mode),
                 fmtTime((benchsupport::now() - t0) / n));
      return 0;
    } else {
      fmt::print(stderr, "usage: {} [--results FILE] [--profile CHAIN MODE SECONDS]\n", argv[0]);
      return 2;
    }
  }
  benchsupport::ResultsFile results(resultsPath);
  bool ok = true;

  fmt::print("chainjit full Jacobians dy/dx (f64) of tanh(W v) chains\n"); // threads: below
  benchsupport::printMachine();
  fmt::print("times: medians of interleaved samples; predicted: the cost model's fused "
             "multiply-adds (ChainPlanner)\n");
  for (const auto &widths : kChains) {
    Problem p(widths);
    ir::Graph g = buildChain(widths);
    compiler::GraphChain gc = compiler::extractChain(g, "y", {"x"});
    compiler::ChainCostSummary sum = compiler::summarizeChain(gc.chain);
    const compiler::BracketingPlan *plans[] = {&sum.optimum, &sum.pureTangent, &sum.pureAdjoint};

    std::vector<std::unique_ptr<Compiled>> compiled;
    std::vector<double> compileTime;
    for (auto mode : kModes) {
      double t0 = benchsupport::now();
      ir::Graph jg = compiler::jacobian(g, "y", "x", mode);
      compiled.push_back(std::make_unique<Compiled>(jg, p));
      compileTime.push_back(benchsupport::now() - t0);
    }
    Baseline base(p, sum.optimum);

    // Check the values before timing them.
    base.run();
    for (size_t i = 0; i < compiled.size(); ++i) {
      compiled[i]->run();
      double diff = maxAbsDiff(compiled[i]->J, base.J);
      if (!(diff < 1e-9)) {
        fmt::print("ERROR: {} {} Jacobian differs from the BLAS baseline by {}\n", chainName(widths),
                   modeName(kModes[i]), diff);
        ok = false;
      }
    }

    std::vector<Timed> timed;
    for (auto &c : compiled)
      timed.push_back(Timed{[&c] { c->run(); }});
    // The baseline with OpenBLAS's own threads, as it comes.
    timed.push_back(Timed{[&base] { benchsupport::withOpenBlasThreads([&] { base.run(); }); }});
    std::vector<Timed *> ptrs;
    for (auto &t : timed)
      ptrs.push_back(&t);
    benchsupport::timeInterleaved(ptrs, 1.5, 15);

    fmt::print("\n{} (optimal plan: {})\n", chainName(widths), sum.optimum.expression(gc.chain));
    fmt::print("{:<22} | {:>14} {:>9} | {:>11} {:>9} {:>11} | {:>11}\n", "strategy", "predicted FMA",
               "/ optimum", "measured", "/ optimum", "GFLOP/s", "derive+jit");
    double tOpt = timed[0].median();
    for (size_t i = 0; i < 3; ++i) {
      double t = timed[i].median();
      fmt::print("{:<22} | {:>14.0f} {:>9.2f} | {:>11} {:>9.2f} {:>11.1f} | {:>11}\n",
                 fmt::format("jit {}", modeName(kModes[i])), plans[i]->cost,
                 plans[i]->cost / sum.optimum.cost, fmtTime(t), t / tOpt,
                 2 * plans[i]->cost / t * 1e-9, fmtTime(compileTime[i]));
      results.add("jacobian", fmt::format("{}/{}", chainName(widths), modeName(kModes[i])), t);
    }
    double tBase = timed[3].median();
    fmt::print("{:<22} | {:>14.0f} {:>9.2f} | {:>11} {:>9.2f} {:>11.1f} |\n", "BLAS baseline",
               sum.optimum.cost, 1.0, fmtTime(tBase), tBase / tOpt,
               2 * sum.optimum.cost / tBase * 1e-9);
    results.add("jacobian", fmt::format("{}/blas", chainName(widths)), tBase);

    // Ranking: every pair whose predicted costs differ by 20% or more must be
    // measured in the same order (closer pairs are ties for the model).
    bool agrees = true;
    std::string detail;
    for (size_t a = 0; a < 3; ++a)
      for (size_t b = 0; b < 3; ++b) {
        if (plans[a]->cost * 1.2 > plans[b]->cost)
          continue; // a is not clearly cheaper than b
        bool measured = timed[a].median() < timed[b].median();
        agrees = agrees && measured;
        detail += fmt::format(" {}<{}:{}", modeName(kModes[a]), modeName(kModes[b]),
                              measured ? "ok" : "WRONG");
      }
    double ratio = tOpt / tBase;
    fmt::print("ranking as predicted (pairs 1.2x apart or more):{} -> {}\n", detail,
               agrees ? "agrees" : "DISAGREES");
    fmt::print("optimal / BLAS baseline = {:.2f} (target <= 1.5: {})\n", ratio,
               ratio <= 1.5 ? "met" : "MISSED");
  }
  return ok ? 0 : 1;
}
