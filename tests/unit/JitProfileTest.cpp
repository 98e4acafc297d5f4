// JitOptions::profile: every kernel of the plan timed on every call, read
// back with CompiledGraph::profile() and printed by formatProfile.
#include "GradCheck.h"

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::runtime::Bindings;
using chainjit::testing::randomBindings;

namespace {

// A small MLP's loss: gemms, fused loops, a reduction and a library call.
Graph smallMlp() {
  Graph g("profiled");
  Value x = input(g, "x", f32({16, 12}));
  Value labels = input(g, "labels", i32({16}));
  Value w1 = input(g, "w1", f32({12, 8}));
  Value w2 = input(g, "w2", f32({8, 4}));
  Value h = relu(matmul(x, w1));
  output(crossEntropy(matmul(h, w2), labels).named("loss"));
  output(sum(h * h).named("energy"));
  return g;
}

// The tensors of randomBindings in the compiled graph's argument order.
std::vector<const Tensor *> inputsOf(const compiler::CompiledGraph &cg, const Bindings &b) {
  std::vector<const Tensor *> in;
  for (const compiler::ArgumentSpec &a : cg.arguments())
    if (a.role == compiler::ArgumentRole::Input || a.role == compiler::ArgumentRole::Param)
      in.push_back(&b.at(a.name));
  return in;
}

// The plan's kernel lines, as `--emit plan` prints them (without the
// arena line).
std::vector<std::string> planLines(const Graph &g, const compiler::JitOptions &o) {
  std::istringstream plan(compiler::emitGraph(g, compiler::EmitKind::Plan, o));
  std::vector<std::string> lines;
  for (std::string line; std::getline(plan, line);)
    if (line.rfind("#", 0) == 0)
      lines.push_back(line);
  return lines;
}

compiler::JitOptions profiled() {
  compiler::JitOptions o;
  o.profile = true;
  o.useCache = false;
  return o;
}

} // namespace

TEST_CASE("jit profile: every kernel of the plan counted and timed on every call") {
  Graph g = smallMlp();
  Bindings b = randomBindings(g, 3);
  auto cg = compiler::compileGraph(g, profiled());
  compiler::GraphProfile before = cg->profile();
  CHECK(before.calls == 0);
  CHECK(before.seconds == 0);
  const std::vector<std::string> lines = planLines(g, profiled());
  REQUIRE(lines.size() >= 4);
  REQUIRE(before.kernels.size() == lines.size());
  for (const compiler::KernelTime &k : before.kernels)
    CHECK(k.calls == 0);

  std::vector<Tensor> first;
  for (int call = 0; call < 3; ++call)
    first = cg->run(inputsOf(*cg, b));
  compiler::GraphProfile p = cg->profile();
  CHECK(p.calls == 3);
  CHECK(p.seconds > 0);
  double inKernels = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(p.kernels[i].kernel == lines[i]);
    CHECK(p.kernels[i].calls == 3);
    CHECK(p.kernels[i].seconds > 0);
    inKernels += p.kernels[i].seconds;
  }
  // The kernels run inside the calls.
  CHECK(inKernels <= p.seconds);

  // Profiling times the code; it does not change it: the same results as
  // a graph compiled without it.
  compiler::JitOptions plain = profiled();
  plain.profile = false;
  auto unprofiled = compiler::compileGraph(g, plain);
  std::vector<Tensor> same = unprofiled->run(inputsOf(*unprofiled, b));
  REQUIRE(same.size() == first.size());
  for (size_t i = 0; i < same.size(); ++i)
    CHECK(same[i] == first[i]);
  // Without the option nothing is timed.
  compiler::GraphProfile none = unprofiled->profile();
  CHECK(none.calls == 0);
  CHECK(none.kernels.empty());
  CHECK(compiler::formatProfile(none).find("not compiled with profiling") != std::string::npos);

  // The table: a row per kernel with its line, and the rest of the call.
  const std::string table = compiler::formatProfile(p);
  CAPTURE(table);
  CHECK(table.rfind("3 calls, ", 0) == 0);
  for (const std::string &line : lines)
    CHECK(table.find("       3  " + line + "\n") != std::string::npos);
  CHECK(table.find("the rest of the call") != std::string::npos);
}

TEST_CASE("jit profile: calls from several threads all counted, and a failed call") {
  Graph g = smallMlp();
  Bindings b = randomBindings(g, 5);
  auto cg = compiler::compileGraph(g, profiled());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int call = 0; call < 25; ++call)
        cg->run(inputsOf(*cg, b));
    });
  for (std::thread &t : threads)
    t.join();
  compiler::GraphProfile p = cg->profile();
  CHECK(p.calls == 100);
  for (const compiler::KernelTime &k : p.kernels)
    CHECK(k.calls == 100);

  // A label out of range stops the call in cross_entropy's kernel: the call
  // counts, and the kernels it did not reach do not.
  b.at("labels").set(2, 9); // randomBindings' labels are in [0, 3)
  CHECK_THROWS_AS(cg->run(inputsOf(*cg, b)), Error);
  p = cg->profile();
  CHECK(p.calls == 101);
  size_t reached = 0;
  for (const compiler::KernelTime &k : p.kernels)
    reached += k.calls == 101;
  CHECK(reached < p.kernels.size());
}

TEST_CASE("jit profile: from the compile cache counting from zero, a scan as one kernel") {
  Graph g = smallMlp();
  Bindings b = randomBindings(g, 7);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("chainjit_profile_cache_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  compiler::JitOptions o = profiled();
  o.useCache = true;
  o.cacheDir = dir.string();
  auto first = compiler::compileGraph(g, o);
  first->run(inputsOf(*first, b));
  auto second = compiler::compileGraph(g, o);
  CHECK(second->times().cacheHit);
  CHECK(second->profile().calls == 0);
  second->run(inputsOf(*second, b));
  second->run(inputsOf(*second, b));
  CHECK(second->profile().calls == 2);
  CHECK(second->profile().kernels.front().calls == 2);
  CHECK(first->profile().kernels.front().calls == 1); // each loaded graph has its own counters
  // Unprofiled, the same graph is another module: no cache hit on the
  // profiled entry, and no counters.
  o.profile = false;
  auto plain = compiler::compileGraph(g, o);
  CHECK_FALSE(plain->times().cacheHit);
  CHECK(plain->profile().kernels.empty());
  std::filesystem::remove_all(dir);

  // A scan's body runs inside the scan's kernel, timed as one line (the
  // GRU of examples/: a scan over 50 steps).
  Graph h = parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/gru_adding.cj");
  auto scanned = compiler::compileGraph(h, profiled());
  Bindings hb = randomBindings(h, 1);
  scanned->run(inputsOf(*scanned, hb));
  compiler::GraphProfile sp = scanned->profile();
  REQUIRE(sp.kernels.size() == planLines(h, profiled()).size());
  bool scanLine = false;
  for (const compiler::KernelTime &k : sp.kernels) {
    CHECK(k.calls == 1);
    scanLine |= k.kernel.find(" scan ") != std::string::npos;
  }
  CHECK(scanLine);
}
