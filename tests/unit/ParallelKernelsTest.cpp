// Library kernels that split independent items over threads
// (compiler/src/jit/kernels/ParallelItems.h): with splitting forced and
// with it off, unfold2d (im2col) and fold2d (col2im) give the interpreter's
// values. Whether the model splits is timing, so the tests force it.
#include "../../compiler/src/jit/kernels/ParallelItems.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

using namespace chainjit;
using namespace chainjit::ir;

TEST_CASE("parallel items: every item runs once, forced splits use threads") {
  ::setenv("CHAINJIT_KERNEL_THREADS", "force", 1);
  std::vector<std::atomic<int>> seen(37);
  std::mutex m;
  std::set<std::thread::id> threads;
  compiler::jit::kernels::forItems(37, [&](int64_t begin, int64_t end) {
    {
      std::lock_guard<std::mutex> lock(m);
      threads.insert(std::this_thread::get_id());
    }
    for (int64_t i = begin; i < end; ++i)
      ++seen[size_t(i)];
  });
  for (auto &s : seen)
    CHECK(s == 1);
  if (std::thread::hardware_concurrency() > 1)
    CHECK(threads.size() > 1);
  ::setenv("CHAINJIT_KERNEL_THREADS", "1", 1);
  threads.clear();
  compiler::jit::kernels::forItems(5, [&](int64_t, int64_t) { threads.insert(std::this_thread::get_id()); });
  CHECK(threads.size() == 1);
  ::unsetenv("CHAINJIT_KERNEL_THREADS");
  CHECK(compiler::jit::kernels::threadStartCost() > 0);
}

TEST_CASE("parallel items: im2col and col2im split over images equal the interpreter") {
  Graph g("unfold_fold");
  Value x = input(g, "x", f32({7, 3, 9, 8}));
  Value cols = unfold2d(x, {3, 3}, {1, 2}, {1, 1}).named("cols");
  output(cols);
  output(fold2d(cols, {9, 8}, {3, 3}, {1, 2}, {1, 1}).named("back"));
  runtime::Bindings b = testing::randomBindings(g, 5);
  for (const char *mode : {"force", "1"}) {
    INFO(mode);
    ::setenv("CHAINJIT_KERNEL_THREADS", mode, 1);
    testing::checkJitMatchesInterpreter(g, b);
  }
  ::unsetenv("CHAINJIT_KERNEL_THREADS");
}
