// Threads and the JIT: one compiled graph called from 8 threads at once (the
// calls run in parallel, each on its own arena, and give the single-threaded
// results), 16 graphs compiled at once, and Executable::run shared between
// threads on both backends. Every test case here is named "Threads: ..." so
// the ThreadSanitizer build can run just these: ctest -R "Threads:".
#include "GradCheck.h"
#include "JitTesting.h"

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <thread>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
namespace fs = std::filesystem;

namespace {

// A graph with real work and an arena: a product (generated loops, below
// the BLAS threshold), an elementwise chain and a reduction.
Graph workGraph(const std::string &name, double scale) {
  Graph g(name);
  Value x = input(g, "x", f64({48, 40}));
  Value w = input(g, "w", f64({40, 32}));
  Value h = tanh(matmul(x, w) * scale).named("h");
  Value e = exp(h * -0.5).named("e");
  output(sum(h * e + h, {1}).named("rows"));
  output(max(e).named("peak"));
  return g;
}

// Runs `body(t)` on `n` threads that start together.
template <typename F> void onThreads(int n, F body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (std::thread &th : threads)
    th.join();
}

bool sameBits(const std::vector<Tensor> &a, const std::vector<Tensor> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i]))
      return false;
  return true;
}

} // namespace

TEST_CASE("Threads: one compiled graph called from 8 threads runs in parallel with the "
          "single-threaded results") {
  Graph g = workGraph("shared", 0.3);
  compiler::JitOptions o;
  o.useCache = false;
  auto compiled = compiler::compileGraph(g, o);
  REQUIRE(compiled->arenaBytes() > 0);
  constexpr int kThreads = 8, kCalls = 40;
  // Each thread its own inputs, and the answer computed on one thread first.
  std::vector<runtime::Bindings> inputs;
  std::vector<std::vector<Tensor>> want;
  for (int t = 0; t < kThreads; ++t) {
    inputs.push_back(testing::randomBindings(g, 100 + t));
    want.push_back(compiled->run({&inputs[t].at("x"), &inputs[t].at("w")}));
  }
  CHECK(compiled->arenaCount() == 1); // a lone caller reuses one arena
  // Rounds of 8 threads until two calls have overlapped (one round almost
  // always suffices; the bound keeps a badly overloaded machine from failing
  // the test for want of a second core).
  std::atomic<int> wrong{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int rounds = 0;
  do {
    ++rounds;
    onThreads(kThreads, [&](int t) {
      for (int i = 0; i < kCalls; ++i)
        if (!sameBits(compiled->run({&inputs[t].at("x"), &inputs[t].at("w")}), want[t]))
          ++wrong;
    });
  } while (compiled->arenaCount() == 1 && std::chrono::steady_clock::now() < deadline);
  INFO(rounds << " rounds");
  CHECK(wrong.load() == 0);
  // A second arena exists only if a call started while another was running:
  // calls were not serialized.
  CHECK(compiled->arenaCount() > 1);
  CHECK(compiled->arenaCount() <= kThreads);
}

TEST_CASE("Threads: 16 graphs compiled at once each give their own results") {
  constexpr int kGraphs = 16;
  fs::path dir = fs::temp_directory_path() /
                 ("chainjit-threads-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::vector<Graph> graphs;
  for (int i = 0; i < kGraphs; ++i)
    // Pairs of identical graphs: two threads store the same cache entry.
    graphs.push_back(workGraph("g" + std::to_string(i), 0.1 * (1 + i / 2)));
  std::vector<std::unique_ptr<compiler::CompiledGraph>> compiled(kGraphs);
  std::vector<std::string> errors(kGraphs);
  onThreads(kGraphs, [&](int i) {
    try {
      compiler::JitOptions o;
      o.cacheDir = dir.string();
      o.fuse = i % 4 != 3; // different modules, different plans
      compiled[i] = compiler::compileGraph(graphs[i], o);
    } catch (const std::exception &e) {
      errors[i] = e.what();
    }
  });
  for (int i = 0; i < kGraphs; ++i) {
    INFO("graph " << i << ": " << errors[i]);
    REQUIRE(compiled[i]);
    runtime::Bindings b = testing::randomBindings(graphs[i], 7);
    std::vector<Tensor> got = compiled[i]->run({&b.at("x"), &b.at("w")});
    runtime::EvalResult want = runtime::interpret(graphs[i], b);
    testing::checkSameTensor(got[0], want.outputs[0], "rows of graph " + std::to_string(i));
    testing::checkSameTensor(got[1], want.outputs[1], "peak of graph " + std::to_string(i));
  }
  // Every entry written whole: a second compile of each hits, silently.
  std::atomic<int> hits{0}, warnings{0};
  onThreads(kGraphs, [&](int i) {
    compiler::JitOptions o;
    o.cacheDir = dir.string();
    o.fuse = i % 4 != 3;
    o.onWarning = [&](const std::string &) { ++warnings; };
    if (compiler::compileGraph(graphs[i], o)->times().cacheHit)
      ++hits;
  });
  CHECK(hits.load() == kGraphs);
  CHECK(warnings.load() == 0);
  fs::remove_all(dir);
}

TEST_CASE("Threads: an Executable is run from several threads on either backend") {
  Graph g = workGraph("exe", 0.2);
  for (runtime::Backend backend : {runtime::Backend::Jit, runtime::Backend::Interp}) {
    compiler::JitOptions o;
    o.useCache = false;
    auto exe = runtime::makeExecutable(g, backend, o);
    constexpr int kThreads = 4;
    std::vector<runtime::Bindings> inputs;
    std::vector<runtime::EvalResult> want;
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(testing::randomBindings(g, 200 + t));
      want.push_back(exe->run(inputs[t]));
    }
    std::atomic<int> wrong{0};
    onThreads(kThreads, [&](int t) {
      for (int i = 0; i < 5; ++i)
        if (!sameBits(exe->run(inputs[t]).outputs, want[t].outputs))
          ++wrong;
    });
    CHECK(wrong.load() == 0);
  }
}

TEST_CASE("Threads: concurrent calls wait for an arena rather than pass the allocation limit") {
  Graph g = workGraph("limited", 0.2);
  compiler::JitOptions o;
  o.useCache = false;
  auto compiled = compiler::compileGraph(g, o);
  uint64_t arena = compiled->arenaBytes();
  REQUIRE(arena > 0);
  runtime::Bindings in = testing::randomBindings(g, 7);
  std::vector<Tensor> want = compiled->run({&in.at("x"), &in.at("w")});
  // Room for the first arena and not for a second one.
  ir::setAllocLimit(arena + arena / 2);
  std::atomic<int> right{0};
  onThreads(8, [&](int) {
    for (int c = 0; c < 20; ++c)
      right += sameBits(compiled->run({&in.at("x"), &in.at("w")}), want);
  });
  ir::setAllocLimit(0);
  CHECK(right == 8 * 20);
  CHECK(compiled->arenaCount() == 1);
}
