// Products split over the kernel pool (compiler/src/jit/kernels/Blas.h):
// with OpenBLAS on one thread (as the CLI sets it, BlasThreads.h) and the
// split forced through $CHAINJIT_KERNEL_THREADS, every block of rows or of
// 64-byte column runs must give the plain product's values (transposes,
// tails, more CPUs than columns), and compiled graphs the interpreter's.
#include "../../compiler/src/jit/kernels/Blas.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "ScopedSplitMode.h"

#include "chainjit/compiler/BlasThreads.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace chainjit;
namespace kernels = chainjit::compiler::jit::kernels;

namespace {

// OpenBLAS on one thread for a scope.
struct OneBlasThread {
  int was = compiler::openBlasThreads();
  OneBlasThread() { compiler::setOpenBlasThreads(1); }
  ~OneBlasThread() { compiler::setOpenBlasThreads(was); }
};

template <typename T> void checkSplit(bool transA, bool transB, int64_t m, int64_t n, int64_t k) {
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
  kernels::gemmRowMajor(transA, transB, m, n, k, a.data(), b.data(), c.data());
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

TEST_CASE("split products: compiled products give the interpreter's values") {
  OneBlasThread one;
  ir::Graph g("wide");
  ir::Value x = ir::input(g, "x", ir::f32({64, 784}));
  ir::Value w = ir::input(g, "w", ir::f32({784, 256}));
  ir::Value dy = ir::input(g, "dy", ir::f32({64, 256}));
  ir::output(ir::matmul(x, w).named("y"));
  ir::output(ir::matmul(ir::transpose(x), dy).named("dw"));
  runtime::Bindings bindings = testing::randomBindings(g, 5);
  for (const char *threads : {"force", "1", static_cast<const char *>(nullptr)}) {
    CAPTURE((threads ? threads : "measured"));
    testing::ScopedSplitMode env(threads);
    for (int call = 0; call < 3; ++call)
      testing::checkJitMatchesInterpreter(g, bindings);
  }
}

TEST_CASE("BLAS threads: the text says whose threads run the products") {
  OneBlasThread one;
  const std::string text = compiler::blasThreadsText();
  CHECK(text.rfind("OpenBLAS on 1 thread", 0) == 0);
}
