// Products split over the kernel pool (compiler/src/jit/kernels/Blas.h):
// with OpenBLAS on one thread (as the CLI sets it, BlasThreads.h) and the
// split forced through $CHAINJIT_KERNEL_THREADS, every block of rows or of
// 64-byte column runs must give the plain product's values (transposes,
// tails, more CPUs than columns); a split of the inner dimension, its parts
// on BLAS or the rank-k kernel, their sum; and compiled graphs the
// interpreter's on every way.
#include "../../compiler/src/jit/kernels/Blas.h"
#include "../../compiler/src/jit/kernels/RankKGemm.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "OneBlasThread.h"
#include "ScopedGemmWay.h"
#include "ScopedSplitMode.h"
#include "WaitUntil.h"

#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

using namespace chainjit;
namespace kernels = chainjit::compiler::jit::kernels;
using chainjit::testing::OneBlasThread;

namespace {

// C = op(A) op(B) by `product` (gemmRowMajor unless given), checked against
// the sum in long double: every element written and within rounding.
template <typename T, typename Product>
void checkProduct(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  const Product &product) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(transA);
  CAPTURE(transB);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n), T(-9));
  for (T &x : a)
    x = T(u(rng));
  for (T &x : b)
    x = T(u(rng));
  product(a.data(), b.data(), c.data());
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-12;
  int wrong = 0;
  for (int64_t i = 0; i < m && wrong < 3; ++i)
    for (int64_t j = 0; j < n && wrong < 3; ++j) {
      long double want = 0;
      for (int64_t q = 0; q < k; ++q)
        want += (long double)(transA ? a[size_t(q * m + i)] : a[size_t(i * k + q)]) *
                (transB ? b[size_t(j * k + q)] : b[size_t(q * n + j)]);
      if (std::fabs(double(c[size_t(i * n + j)] - want)) > tol * std::max(1.0L, std::fabs(want))) {
        ++wrong;
        CHECK_MESSAGE(false, "C(" << i << ", " << j << ") = " << c[size_t(i * n + j)] << ", want "
                                  << double(want));
      }
    }
}

template <typename T> void checkSplit(bool transA, bool transB, int64_t m, int64_t n, int64_t k) {
  checkProduct<T>(transA, transB, m, n, k, [&](const T *a, const T *b, T *c) {
    kernels::gemmRowMajor(transA, transB, m, n, k, a, b, c);
  });
}

// The inner split run directly over the pool's threads, k cut into
// `ranges` ranges, each one BLAS call (rankK false) or the rank-k kernel's
// innerPart.
template <typename T>
void checkInnerSplit(kernels::WorkerPool &pool, bool rankK, bool transA, bool transB, int64_t m,
                     int64_t n, int64_t k, int64_t ranges) {
  CAPTURE(rankK);
  CAPTURE(ranges);
  checkProduct<T>(transA, transB, m, n, k, [&](const T *a, const T *b, T *c) {
    const kernels::GemmOperands<T> g{transA, transB, m, n, k, a, b, c};
    const bool ran = kernels::splitInnerGemm(
        pool, g, ranges, [&](int64_t q0, int64_t q1, T *out, bool accumulate) {
          if (rankK)
            kernels::rankk::innerPart(transA, m, n, k, q0, q1, a, b, out, accumulate);
          else
            g.innerPart(q0, q1, out, accumulate);
        });
    REQUIRE(ran); // the pool is free and the scratch small
  });
}

} // namespace

TEST_CASE("split products: every block gives the plain product, transposed or not") {
  OneBlasThread one;
  for (const char *threads : {"force", "1"}) {
    CAPTURE(threads);
    testing::ScopedSplitMode env(threads);
    for (bool tA : {false, true})
      for (bool tB : {false, true}) {
        checkSplit<float>(tA, tB, 64, 256, 784); // split by columns (n > m)
        checkSplit<float>(tA, tB, 784, 256, 64); // by rows
        checkSplit<double>(tA, tB, 97, 131, 61); // column runs with a tail
        checkSplit<double>(tA, tB, 1, 4099, 70); // one row
        checkSplit<float>(tA, tB, 4099, 1, 70);  // one column
        checkSplit<float>(tA, tB, 300, 9, 200);  // fewer 64-byte runs than parts can be
      }
  }
}

TEST_CASE("inner split: the parts' sum is the product, on BLAS's parts and the rank-k kernel's") {
  OneBlasThread one;
  kernels::WorkerPool *pool = kernels::WorkerPool::get();
  if (!pool) {
    MESSAGE("one CPU: no pool, products never split");
    return;
  }
  const bool rankKParts = kernels::rankk::partsApply<float>(false);
  // The Fashion MLP's first product, ranges that do not divide k, a tail
  // of rows and columns for every tile, one row; the scratch grows and is
  // used again.
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {
      {64, 256, 784}, {5, 37, 301}, {3, 2000, 257}, {1, 17, 1000}, {9, 50, 400}};
  // A range per thread (as products run), and more ranges than threads: a
  // thread then adds its second range into its buffer, or another's last.
  const int64_t threads = pool->workers() + 1;
  for (const Shape &s : shapes)
    for (int64_t ranges : {threads, threads + 1, 2 * threads + 1})
      for (bool tA : {false, true}) {
        for (bool tB : {false, true}) {
          checkInnerSplit<float>(*pool, false, tA, tB, s.m, s.n, s.k, ranges);
          checkInnerSplit<double>(*pool, false, tA, tB, s.m, s.n, s.k, ranges);
        }
        if (rankKParts) { // B as it is
          checkInnerSplit<float>(*pool, true, tA, false, s.m, s.n, s.k, ranges);
          checkInnerSplit<double>(*pool, true, tA, false, s.m, s.n, s.k, ranges);
        }
      }
  // One buffer per thread, kept: no allocation once it is large enough.
  float *scratch = kernels::threadScratch<float>(1000);
  CHECK(scratch != nullptr);
  CHECK(kernels::threadScratch<float>(10) == scratch);
}

// Where the model splits, a product's parts follow the threads' speeds
// (ThreadSpeeds in ParallelItems.h): a thread that was slow gets less of
// the next call, and the product is the same; with the split forced the
// parts are equal whatever was measured.
TEST_CASE("split products: parts by the threads' measured speeds, equal when forced") {
  OneBlasThread one;
  kernels::WorkerPool *pool = kernels::WorkerPool::get();
  if (!pool) {
    MESSAGE("one CPU: no pool, products never split");
    return;
  }
  const int64_t threads = pool->workers() + 1, m = 64, n = 256, k = 784;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n));
  for (float &x : a)
    x = u(rng);
  for (float &x : b)
    x = u(rng);
  const kernels::GemmOperands<float> g{false, false, m, n, k, a.data(), b.data(), c.data()};
  // The inner ranges one call ran, by their start.
  std::mutex seen;
  std::map<int64_t, int64_t> ranges;
  auto recorded = [&](int64_t q0, int64_t q1, float *out, bool accumulate) {
    {
      std::lock_guard<std::mutex> lock(seen);
      ranges[q0] = q1;
    }
    g.innerPart(q0, q1, out, accumulate);
  };
  {
    testing::ScopedSplitMode model("model");
    pool->speeds().reset();
    // Every thread but the caller takes 20 ms more for its range: slower
    // by far, and long enough a call to be timed (SplitTally). The caller
    // waits for another thread to begin, so that it does not take that
    // thread's range while the thread wakes up.
    std::atomic<bool> begun{false};
    REQUIRE(kernels::splitInnerGemm(
        *pool, g, threads, [&](int64_t q0, int64_t q1, float *out, bool accumulate) {
          if (out != c.data()) {
            begun = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          } else {
            testing::waitUntil([&] { return begun.load(); });
          }
          g.innerPart(q0, q1, out, accumulate);
        }));
    CHECK(pool->speeds().speed(0) > pool->speeds().speed(1));
    REQUIRE(kernels::splitInnerGemm(*pool, g, threads, recorded));
    REQUIRE(!ranges.empty());
    CHECK(ranges.begin()->first == 0);
    CHECK(ranges.begin()->second > k / threads); // the caller's range is the longer
    // The product, and a split by rows, by the same uneven parts.
    checkInnerSplit<float>(*pool, false, false, false, m, n, k, threads);
    checkProduct<float>(false, false, 784, 256, 64, [&](const float *x, const float *y, float *z) {
      REQUIRE(kernels::splitGemm(
          *pool, kernels::GemmOperands<float>{false, false, 784, 256, 64, x, y, z}, threads));
    });
  }
  testing::ScopedSplitMode force("force");
  ranges.clear();
  REQUIRE(kernels::splitInnerGemm(*pool, g, threads, recorded));
  REQUIRE(ranges.size() == size_t(threads));
  for (int64_t t = 0; t < threads; ++t)
    CHECK(ranges[k * t / threads] == k * (t + 1) / threads);
  pool->speeds().reset();
}

// The parts' sum: every length up to a few vectors of either type (tails
// of every size), against the scalar sum, by `add` (addInto or one width).
template <typename T, typename Add> void checkAddInto(const Add &add) {
  for (int64_t count = 0; count <= 41; ++count) {
    CAPTURE(count);
    std::vector<T> to(size_t(count) + 1), from(size_t(count) + 1), want(size_t(count) + 1);
    for (int64_t e = 0; e <= count; ++e) {
      to[size_t(e)] = T(0.25) * T(e) - T(3);
      from[size_t(e)] = T(1) / T(e + 3);
      want[size_t(e)] = e < count ? to[size_t(e)] + from[size_t(e)] : to[size_t(e)];
    }
    add(to.data(), from.data(), count);
    CHECK(to == want); // the same sum per element: exact; the element past the end untouched
  }
}

template <typename T> void checkAddIntoWidths() {
  checkAddInto<T>(kernels::addInto<T>); // the CPU's widest
  checkAddInto<T>(kernels::addIntoVectors<T, 16>);
#if defined(__x86_64__)
  if (kernels::simdLevel() >= 1)
    checkAddInto<T>(kernels::addIntoAvx2<T>);
  if (kernels::simdLevel() >= 2)
    checkAddInto<T>(kernels::addIntoAvx512<T>);
#endif
}

TEST_CASE("inner split: the parts are added element by element, every tail") {
  checkAddIntoWidths<float>();
  checkAddIntoWidths<double>();
}

TEST_CASE("inner split: offered for B larger than C, long ranges and plain products") {
  std::vector<float> w(16); // a chained update's weights
  using G = kernels::GemmOperands<float>;
  const float *a = nullptr, *b = nullptr;
  float *c = nullptr;
  CHECK(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c}, 2));
  CHECK(kernels::innerSplitFits(G{true, true, 64, 256, 784, a, b, c}, 2));
  CHECK_FALSE(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c}, 1)); // one CPU
  CHECK_FALSE(kernels::innerSplitFits(G{false, false, 784, 256, 64, a, b, c}, 2)); // k < m
  CHECK_FALSE(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c}, 7)); // 112 < 128
  CHECK(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c}, 6));
  CHECK_FALSE(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c, 1, 0.5f}, 2)); // beta
  kernels::ChainedUpdate<float> then{w.data(), w.data(), -0.1f};
  CHECK_FALSE(kernels::innerSplitFits(G{false, false, 64, 256, 784, a, b, c, 1, 0, then}, 2));
}

TEST_CASE("split products: compiled products give the interpreter's values") {
  OneBlasThread one;
  ir::Graph g("wide");
  ir::Value x = ir::input(g, "x", ir::f32({64, 784}));
  ir::Value w = ir::input(g, "w", ir::f32({784, 256}));
  ir::Value dy = ir::input(g, "dy", ir::f32({64, 256}));
  ir::output(ir::matmul(x, w).named("y"));
  ir::output(ir::matmul(ir::transpose(x), dy).named("dw"));
  runtime::Bindings bindings = testing::randomBindings(g, 5);
  // Every product through the library's GEMM, whatever this machine's
  // calibrated threshold says.
  compiler::JitOptions options;
  options.blasThreshold = 0;
  for (const char *threads : {"force", "1", static_cast<const char *>(nullptr)}) {
    CAPTURE((threads ? threads : "measured"));
    testing::ScopedSplitMode env(threads);
    // Measured: each of up to six ways runs three times first, whatever the
    // times (where no earlier test of this process has measured these
    // shapes; the inner split's own test above runs it directly).
    for (int call = 0; call < (threads ? 3 : 19); ++call)
      testing::checkJitMatchesInterpreter(g, bindings, options);
  }
  // The rank-k kernel forced: y's inner split on its parts (it does not
  // take the whole of y: k = 784), dw on the kernel.
  testing::ScopedSplitMode env("force");
  testing::ScopedGemmWay way("rank-k");
  testing::checkJitMatchesInterpreter(g, bindings, options);
}

TEST_CASE("BLAS threads: the text says whose threads run the products") {
  OneBlasThread one;
  const std::string text = compiler::blasThreadsText();
  CHECK(text.rfind("OpenBLAS on 1 thread", 0) == 0);
}
