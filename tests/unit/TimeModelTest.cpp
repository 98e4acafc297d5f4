// The chain DP's objective in time (compiler/TimeModel.h, PlanTime.h): the
// model is monotone and charges bytes, the DP under it finds the plan an
// exhaustive enumeration of every plan finds under the same model, its
// choice flips where the model says it should while the multiply-add
// objective's does not, the reports carry the predictions, and the copy
// bandwidth's cache entry is written, read and re-measured when damaged.
// Nothing here depends on timing: rates are made up, except for one check
// that the host model's numbers are positive.
#include "../../compiler/src/jit/HostTimeModel.h"

#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/compiler/PlanTime.h"
#include "chainjit/compiler/TimeModel.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::compiler;
using S = JacobianStructure;
namespace fs = std::filesystem;

namespace {

// A machine made up: `perFma` seconds a multiply-add (dense and scalings),
// `overhead` a call, bytes at `memory` bytes/s beyond `cacheBytes` and at
// `cache` within (0: bytes are free).
TimeModel madeUp(double overhead, double perFma, double memory, double cacheBytes = 0,
                 double cache = 0) {
  TimeModel m;
  m.description = "made up";
  m.elemBytes = 8;
  m.dense = {overhead, perFma};
  m.elementwise = {overhead, perFma};
  m.memoryBytesPerSecond = memory;
  m.cacheBytes = cacheBytes;
  m.cacheBytesPerSecond = cache;
  return m;
}

// Like a 2-core desktop: 50 GFMA/s, 10 GB/s from memory, 100 GB/s within 1 MiB.
TimeModel desktop() { return madeUp(1e-7, 1.0 / 50e9, 10e9, 1 << 20, 100e9); }

ChainFactor factor(int64_t n, int64_t m, double t, double a, double e = 0,
                   S s = S::Dense) {
  ChainFactor f;
  f.n = n, f.m = m, f.tangentCost = t, f.adjointCost = a, f.tapeBytes = e, f.structure = s;
  f.forwardCost = t, f.inputBytes = 8.0 * double(n);
  f.label = "F";
  return f;
}

JacobianChain labelled(std::vector<ChainFactor> fs) {
  JacobianChain c;
  c.factors = std::move(fs);
  for (size_t l = 0; l < c.factors.size(); ++l)
    c.factors[l].label = "F" + std::to_string(l + 1);
  return c;
}

// tests/cli/data/wide_narrow_wide.chain: R^100 -> R^100 -> R^2 -> R^100 -> R^100.
JacobianChain wideNarrowWide() {
  return labelled({factor(100, 100, 10000, 10000, 80000), factor(100, 2, 200, 200, 1600),
                   factor(2, 100, 200, 200, 1600), factor(100, 100, 10000, 10000, 80000)});
}

// Every plan of factors i..j (leaves, MUL, TAN, ADJ at every split), as
// node lists with the root last, written apart from the DP.
using Tree = std::vector<PlanNode>;
std::vector<Tree> allPlans(const JacobianChain &c, int i, int j) {
  std::vector<Tree> out;
  if (i == j) {
    out.push_back({PlanNode{PlanStep::TangentLeaf, i, i}});
    out.push_back({PlanNode{PlanStep::AdjointLeaf, i, i}});
    return out;
  }
  auto append = [](Tree &to, const Tree &from) {
    int base = int(to.size());
    for (PlanNode n : from) {
      if (n.left >= 0)
        n.left += base;
      if (n.right >= 0)
        n.right += base;
      to.push_back(n);
    }
    return int(to.size()) - 1; // the appended root
  };
  for (int k = i; k < j; ++k) {
    std::vector<Tree> left = allPlans(c, k + 1, j), right = allPlans(c, i, k);
    for (const Tree &l : left)
      for (const Tree &r : right) {
        Tree t;
        int li = append(t, l), ri = append(t, r);
        t.push_back(PlanNode{PlanStep::Multiply, i, j, k, li, ri});
        out.push_back(std::move(t));
      }
    for (const Tree &r : right) {
      Tree t;
      int ri = append(t, r);
      t.push_back(PlanNode{PlanStep::Tangent, i, j, k, -1, ri});
      out.push_back(std::move(t));
    }
    for (const Tree &l : left) {
      Tree t;
      int li = append(t, l);
      t.push_back(PlanNode{PlanStep::Adjoint, i, j, k, li, -1});
      out.push_back(std::move(t));
    }
  }
  return out;
}

// The least predicted seconds over every plan, and that plan's FMA.
std::pair<double, double> bestByEnumeration(const JacobianChain &c, const TimeModel &m) {
  double best = std::numeric_limits<double>::infinity(), fma = 0;
  for (Tree &t : allPlans(c, 0, int(c.size()) - 1)) {
    BracketingPlan p;
    p.nodes = std::move(t);
    StepCost total = planTotalCost(c, p, m);
    if (total.seconds < best)
      best = total.seconds, fma = total.fma;
  }
  return {best, fma};
}

JacobianChain randomChain(std::mt19937 &rng, int q, bool structured) {
  std::uniform_int_distribution<int> size(1, 300), kind(0, 3);
  std::uniform_real_distribution<double> noise(0.5, 2.0);
  std::vector<ChainFactor> fs;
  int64_t n = size(rng);
  for (int l = 0; l < q; ++l) {
    int64_t m = size(rng);
    int k = structured ? kind(rng) : 3;
    if (k == 0)
      fs.push_back(factor(n, n, 0, 0, 0, S::Identity));
    else if (k == 1)
      fs.push_back(factor(n, n, double(n), double(n), 8.0 * double(n), S::Diagonal));
    else // dense, costs about m n, as a matmul's
      fs.push_back(factor(n, m, std::round(double(m * n) * noise(rng)),
                          std::round(double(m * n) * noise(rng))));
    n = fs.back().m;
  }
  return labelled(std::move(fs));
}

bool near(double a, double b, double rel = 1e-9) {
  return std::fabs(a - b) <= rel * std::max({std::fabs(a), std::fabs(b), 1e-300});
}

} // namespace

TEST_CASE("time model: monotone in the work and the bytes of a step") {
  TimeModel m = desktop();
  // Working sets from 8 bytes to far beyond the cache.
  double prev = 0;
  for (double bytes = 8; bytes < 1e9; bytes *= 1.7) {
    double s = m.moveSeconds(bytes);
    CHECK(s >= prev);
    prev = s;
  }
  for (S ls : {S::Dense, S::Diagonal})
    for (int64_t base : {1, 7, 60, 500}) {
      INFO("base " << base);
      double p0 = m.product(base, base, base, ls, S::Dense).seconds;
      CHECK(m.product(2 * base, base, base, ls, S::Dense).seconds >= p0);
      CHECK(m.product(base, base, 2 * base, ls, S::Dense).seconds >= p0);
      if (ls == S::Dense)
        CHECK(m.product(base, 2 * base, base, ls, S::Dense).seconds >= p0);
    }
  ChainFactor f = factor(300, 200, 60000, 60000);
  prev = 0;
  for (double d : {1.0, 2.0, 10.0, 100.0, 1000.0, 10000.0}) {
    double s = m.sweep(f, d, true).seconds;
    CHECK(s > prev);
    prev = s;
  }
  CHECK(m.sweep(factor(300, 200, 120000, 120000), 10, true).seconds > m.sweep(f, 10, true).seconds);
  // No directions, or nothing to compute (a reshape): no call at all.
  CHECK(m.sweep(f, 0, true).seconds == 0);
  CHECK(m.sweep(factor(50, 50, 0, 0, 0, S::Identity), 50, true).seconds == 0);
  CHECK(m.product(40, 40, 40, S::Identity, S::Dense).seconds == 0);
}

TEST_CASE("time model: a memory-bound product costs more than its multiply-adds say") {
  TimeModel m = desktop();
  // The last product of the full Jacobian 2000-20-2000 against a cube with
  // the same multiply-adds: 32 MB written against 4.5 MB moved.
  StepCost wide = m.product(2000, 20, 2000, S::Dense, S::Dense);
  StepCost cube = m.product(431, 431, 431, S::Dense, S::Dense);
  CHECK(wide.fma == 80e6);
  CHECK(cube.fma == doctest::Approx(80e6).epsilon(0.01));
  CHECK(wide.bytes == 8.0 * (2000 * 20 + 20 * 2000 + 2000 * 2000));
  CHECK(wide.seconds > 1.5 * cube.seconds);
  // Its bytes take longer than its multiply-adds: FMA at the rate alone
  // would predict less than half of it.
  CHECK(wide.fma * m.dense.perFma < 0.5 * wide.seconds);
  // In a plan: the step that writes the 2000 x 2000 result takes a larger
  // share of the time than of the multiply-adds, against a compute-bound
  // step of the same plan.
  JacobianChain c = labelled({factor(2000, 20, 40000, 40000), factor(20, 2000, 40000, 40000)});
  PlannerOptions given;
  BracketingPlan p = planChain(c, given);
  std::vector<StepCost> steps = planStepCosts(c, p, m);
  StepCost total = planTotalCost(c, p, m);
  size_t biggest = 0;
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].bytes > steps[biggest].bytes)
      biggest = i;
  CHECK(steps[biggest].bytes >= 32e6);
  CHECK(steps[biggest].seconds / total.seconds >= 0.9);
  CHECK(steps[biggest].seconds > 2 * steps[biggest].fma * m.dense.perFma);
}

TEST_CASE("time objective: the DP finds what enumerating every plan finds") {
  // A nonlinear dense kernel (small products slow per FMA, as generated
  // loops against BLAS) and a cache boundary inside the chains' sizes.
  TimeModel m = madeUp(2e-7, 1e-10, 5e9, 64 << 10, 50e9);
  m.denseSeconds = [](int64_t a, int64_t b, int64_t c, bool) {
    double work = double(a) * double(b) * double(c);
    return work < 4096 ? 5e-8 + work * 4e-10 : 3e-7 + work * 5e-11;
  };
  std::mt19937 rng(14);
  int checked = 0;
  for (bool structured : {false, true})
    for (int q = 1; q <= 5; ++q)
      for (int trial = 0; trial < (q <= 3 ? 12 : 4); ++trial) {
        JacobianChain c = randomChain(rng, q, structured);
        INFO("q = " << q << ", trial " << trial << ", structured " << structured);
        PlannerOptions o;
        o.timeModel = &m;
        BracketingPlan p = planChain(c, o);
        auto [best, fma] = bestByEnumeration(c, m);
        CHECK(p.timed);
        CHECK(near(p.seconds, best));
        // The plan's numbers are what evaluating it gives: seconds and,
        // in `cost`, multiply-adds.
        StepCost total = planTotalCost(c, p, m);
        CHECK(near(total.seconds, p.seconds));
        CHECK(near(total.fma, p.cost));
        ++checked;
      }
  CHECK(checked == 2 * (3 * 12 + 2 * 4));
}

TEST_CASE("time objective: time proportional to multiply-adds gives the multiply-add optimum") {
  TimeModel m = madeUp(0, 1e-9, 0); // no calls, no bytes: time = FMA x 1 ns
  std::mt19937 rng(1414);
  for (bool structured : {false, true})
    for (int q = 1; q <= 7; ++q)
      for (int trial = 0; trial < 10; ++trial) {
        JacobianChain c = randomChain(rng, q, structured);
        INFO("q = " << q << ", trial " << trial);
        PlannerOptions o;
        o.timeModel = &m;
        BracketingPlan timed = planChain(c, o), counted = planChain(c);
        CHECK(near(timed.cost, counted.cost));
        CHECK(near(timed.seconds, counted.cost * 1e-9));
      }
}

TEST_CASE("time objective: the choice flips where the time model says, the FMA objective's does not") {
  JacobianChain c = wideNarrowWide();
  const std::string fmaPlan = "(tan[F3..F4] * adj[F1..F2])";
  // Calls dominate (1 ms each, work and bytes free): every factor needs a
  // sweep, so the fastest plan makes no product at all (4 calls, not 5).
  TimeModel calls = madeUp(1e-3, 0, 0);
  PlannerOptions o;
  o.timeModel = &calls;
  BracketingPlan timed = planChain(c, o), counted = planChain(c);
  CHECK(counted.expression(c) == fmaPlan);
  CHECK(counted.cost == 60800);
  CHECK(timed.count(PlanStep::Multiply) == 0);
  CHECK(timed.expression(c) != fmaPlan);
  CHECK(timed.seconds == doctest::Approx(4e-3));
  CHECK(planTotalCost(c, counted, calls).seconds == doctest::Approx(5e-3));
  CHECK(timed.cost > counted.cost); // more multiply-adds, less time
  // Time proportional to the multiply-adds: the same plan as counting them.
  TimeModel proportional = madeUp(0, 1e-9, 0);
  o.timeModel = &proportional;
  CHECK(planChain(c, o).expression(c) == fmaPlan);

  // Bytes dominate (work and calls free, 1 GB/s): on random chains the
  // fastest plan moves the fewest bytes; where that is not the plan of
  // fewest multiply-adds, the two objectives choose differently, each
  // optimal for its own measure.
  TimeModel bytes = madeUp(0, 0, 1e9);
  o.timeModel = &bytes;
  std::mt19937 rng(2026);
  int flips = 0;
  for (int trial = 0; trial < 60; ++trial) {
    JacobianChain r = randomChain(rng, 4, trial % 2 == 1);
    BracketingPlan byTime = planChain(r, o), byFma = planChain(r);
    double fmaPlanSeconds = planTotalCost(r, byFma, bytes).seconds;
    CHECK(byTime.seconds <= fmaPlanSeconds * (1 + 1e-12));
    CHECK(byFma.cost <= byTime.cost * (1 + 1e-12));
    if (byTime.seconds < fmaPlanSeconds * (1 - 1e-9))
      ++flips;
  }
  CHECK(flips >= 3);
}

TEST_CASE("time objective: memory-limited plans with recomputation are timed too") {
  // 8 equal layers (tests/cli/data/deep.chain) under 2400 bytes.
  std::vector<ChainFactor> fs;
  for (int l = 0; l < 8; ++l)
    fs.push_back(factor(100, l == 7 ? 1 : 100, 10000, 10000, 800));
  fs.back().tangentCost = fs.back().adjointCost = fs.back().forwardCost = 100;
  JacobianChain c = labelled(fs);
  TimeModel m = desktop();
  PlannerOptions o;
  o.tapeLimit = 2400;
  o.recompute = true;
  o.timeModel = &m;
  BracketingPlan p = planChain(c, o);
  CHECK(p.recomputed);
  CHECK(p.tapeBytes <= 2400);
  CHECK(near(planTotalCost(c, p, m).seconds, p.seconds));
  CHECK(near(planTotalCost(c, p, m).fma, p.cost));
  CHECK(p.recomputeCost > 0);
}

TEST_CASE("cost reports: predicted times in text and JSON with a time model, none without") {
  JacobianChain c = wideNarrowWide();
  TimeModel m = desktop();
  ChainCostSummary timed = summarizeChain(c, std::nullopt, false, &m);
  ChainCostSummary counted = summarizeChain(c);
  std::string text = costReportText({"t", &c, &timed, {}, &m});
  CHECK(text.find("predicted   / optimum") != std::string::npos);
  CHECK(text.find("objective: predicted time (made up)") != std::string::npos);
  CHECK(text.find("step (in order)") != std::string::npos);
  CHECK(text.find("\n  total ") != std::string::npos);
  std::string plain = costReportText({"t", &c, &counted, {}});
  CHECK(plain.find("predicted") == std::string::npos);
  CHECK(plain.find("optimum                               60800       1.00x") != std::string::npos);

  nlohmann::json j = nlohmann::json::parse(costReportJson({"t", &c, &timed, {}, &m}));
  CHECK(j["objective"] == "time");
  CHECK(j["time_model"]["memory_bytes_per_second"].get<double>() == 10e9);
  CHECK(j["time_model"]["dense"]["seconds_per_fma"].get<double>() == 1.0 / 50e9);
  for (const char *plan : {"pure_tangent", "pure_adjoint", "preaccumulate", "optimum"}) {
    INFO(plan);
    CHECK(j[plan]["seconds"].get<double>() > 0);
    CHECK(j[plan]["steps"].size() == j[plan]["nodes"].size());
  }
  double sum = 0, fma = 0;
  for (const auto &s : j["optimum"]["steps"]) {
    CHECK(s.contains("what"));
    CHECK(s["bytes"].get<double>() >= 0);
    sum += s["seconds"].get<double>();
    fma += s["fma"].get<double>();
  }
  CHECK(near(sum, j["optimum"]["seconds"].get<double>()));
  CHECK(fma == j["optimum"]["cost"].get<double>());

  nlohmann::json k = nlohmann::json::parse(costReportJson({"t", &c, &counted, {}}));
  CHECK(k["objective"] == "fma");
  CHECK(k["time_model"].is_null());
  CHECK(k["optimum"]["seconds"].is_null());
  CHECK(!k["optimum"].contains("steps"));
  CHECK(formatSeconds(412e-9) == "412 ns");
  CHECK(formatSeconds(3.514e-6) == "3.51 us");
  CHECK(formatSeconds(6.5e-3) == "6.50 ms");
  CHECK(formatSeconds(1.2) == "1.20 s");
}

TEST_CASE("copy bandwidth: the cache entry is written, read back and re-measured when damaged") {
  fs::path dir = fs::temp_directory_path() / ("chainjit-bandwidth-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  CopyBandwidth made;
  made.memoryBytesPerSecond = 7e9, made.cacheBytesPerSecond = 70e9, made.cacheBytes = 1 << 20;
  made.largeGemmF32 = 1e-11, made.largeGemmF64 = 2e-11;
  int measures = 0;
  auto measure = [&] {
    ++measures;
    return made;
  };
  std::vector<std::string> warnings;
  auto warn = [&](const std::string &w) { warnings.push_back(w); };
  bool measured = false;
  CopyBandwidth a = jit::loadOrMeasureBandwidth(dir.string(), "cpu", warn, measure, &measured);
  CHECK(measured);
  CopyBandwidth b = jit::loadOrMeasureBandwidth(dir.string(), "cpu", warn, measure, &measured);
  CHECK(!measured);
  CHECK(measures == 1);
  CHECK(b.memoryBytesPerSecond == 7e9);
  CHECK(b.largeGemmF64 == 2e-11);
  CHECK(a.cacheBytes == b.cacheBytes);
  CHECK(warnings.empty());
  // Another machine has an entry of its own.
  jit::loadOrMeasureBandwidth(dir.string(), "other cpu", warn, measure, &measured);
  CHECK(measured);
  // A damaged entry: a warning, deleted, measured again.
  std::string path = jit::bandwidthEntryPath(dir.string(), "cpu");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    f.put('#');
  }
  jit::loadOrMeasureBandwidth(dir.string(), "cpu", warn, measure, &measured);
  CHECK(measured);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("damaged") != std::string::npos);
  fs::remove_all(dir);

  // Crafted text is refused; what serialize writes comes back.
  CHECK(jit::parseBandwidth(jit::serializeBandwidth(made)).has_value());
  CHECK(!jit::parseBandwidth("chainjit-copy-bandwidth 4\nmemory -1\n"));
  std::string text = jit::serializeBandwidth(made);
  CHECK(!jit::parseBandwidth(text + "extra\n"));
  CHECK(!jit::parseBandwidth(text.substr(0, text.size() - 4)));
  made.largeGemmF64 = 0; // no rate at all is not plausible
  CHECK(!jit::parseBandwidth(jit::serializeBandwidth(made)));
}

TEST_CASE("time model: the host model has positive rates and describes itself") {
  compiler::JitOptions o;
  std::vector<std::string> warnings;
  o.onWarning = [&](const std::string &w) { warnings.push_back(w); };
  TimeModel m = hostTimeModel(8, o);
  CHECK(m.elemBytes == 8);
  CHECK(m.dense.perFma > 0);
  CHECK(m.memoryBytesPerSecond > 0);
  CHECK(m.cacheBytesPerSecond > 0);
  CHECK(m.cacheBytes > 0);
  CHECK(m.denseSeconds);
  CHECK(m.denseSeconds(64, 64, 64, false) > 0);
  CHECK(m.denseSeconds(64, 64, 64, true) > 0);
  CHECK(m.description.find("f64") != std::string::npos);
  CHECK(hostTimeModel(4, o).elemBytes == 4);
}

TEST_CASE("time model: pure modes are predicted with every column or row seeded") {
  // The last factor is diagonal: the DP seeds it once, classic reverse mode
  // (what the pure-adjoint row stands for) seeds all of its 2000 rows.
  JacobianChain c = labelled({factor(2000, 20, 40000, 40000), factor(20, 2000, 40000, 40000),
                              factor(2000, 2000, 2000, 2000, 16000, S::Diagonal)});
  TimeModel m = desktop();
  ChainCostSummary s = summarizeChain(c, std::nullopt, false, &m);
  for (const BracketingPlan *p : {&s.pureTangent, &s.pureAdjoint, &s.preaccumulate, &s.optimum}) {
    StepCost total = planTotalCost(c, *p, m);
    CHECK(total.fma == p->cost);
    CHECK(near(total.seconds, p->seconds));
  }
  CHECK(s.pureAdjoint.cost == 2000.0 * (2000 + 40000 + 40000));
  CHECK(s.pureAdjoint.nodes.front().seeds == 2000);
}
