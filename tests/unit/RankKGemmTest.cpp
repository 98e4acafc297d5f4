// The rank-k kernel for products with a short inner dimension
// (compiler/src/jit/kernels/RankKGemm.h) and the measured choice between it
// and BLAS (MeasuredChoice.h): the kernel must give the plain product's
// values on row and column tails, every misalignment of C (streaming stores
// start at a vector boundary), transposed A, transposed B (packed first), f32 and f64, with
// streaming or plain stores, split over threads or not, and write nothing outside C; the choice
// must settle on the faster way and obey $CHAINJIT_GEMM_KERNEL; and compiled graphs must give the
// interpreter's values on either kernel.
#include "../../compiler/src/jit/kernels/RankKGemm.h"

#include "../../compiler/src/jit/kernels/Blas.h" // forcedGemmWay
#include "../../compiler/src/jit/kernels/MeasuredChoice.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "ScopedGemmWay.h"
#include "ScopedSplitMode.h"

#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace chainjit;
namespace kernels = chainjit::compiler::jit::kernels;
using chainjit::testing::ScopedGemmWay;

namespace {

// C = op(A) B in long double, one element at a time.
template <typename T>
std::vector<long double> plainProduct(bool transA, int64_t m, int64_t n, int64_t k,
                                      const std::vector<T> &a, const std::vector<T> &b) {
  std::vector<long double> c(size_t(m * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t q = 0; q < k; ++q)
        c[size_t(i * n + j)] +=
            (long double)(transA ? a[size_t(q * m + i)] : a[size_t(i * k + q)]) *
            b[size_t(q * n + j)];
  return c;
}

// The AVX2 tile on a CPU with AVX-512, whose gemm() would never take it:
// its rows are run directly (plain stores, or accumulating with `sc`).
template <typename T>
void avx2Rows(bool transA, int64_t m, int64_t n, int64_t k, const T *a, const T *b, T *c,
              const kernels::rankk::Scaling<T> *sc) {
#if defined(__x86_64__)
  using kernels::rankk::Write;
  const kernels::rankk::Lhs<T> lhs{a, transA ? 1 : k, transA ? m : 1};
  if (sc && (sc->alpha != T(1) || sc->beta != T(0)))
    kernels::rankk::rowsAvx2<T, Write::Accumulate>(lhs, b, n, k, c, 0, m, 0, *sc);
  else
    kernels::rankk::rowsAvx2<T, Write::Plain>(lhs, b, n, k, c, 0, m, 0,
                                              sc ? *sc : kernels::rankk::Scaling<T>{});
#endif
}

// kernel: 0 = gemm() as this CPU runs it, 1 = the AVX2 tile's rows.
// accumulate: C = -0.75 op(A) B + 0.5 C0 over a C0 of random values.
// chained: W' = W - 0.3 C from each element of C as written, W' in W's own
// storage for even offsets and in storage of its own for odd ones; it must
// be that sum's value bit for bit (the unfused loop's).
template <typename T>
void checkShapes(kernels::rankk::Stores stores, int kernel = 0, bool accumulate = false,
                 bool chained = false) {
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  struct Shape {
    int64_t m, n, k;
  };
  // Rows: whole numbers of tiles (8 and 4 rows), tails of 1-7 rows, fewer
  // rows than a tile; columns: whole tiles (3 or 2 vectors of either
  // width), single vectors, tails, fewer than a vector.
  const Shape shapes[] = {{8, 64, 20}, {5, 37, 1},   {3, 2000, 7}, {17, 96, 128}, {1, 5, 3},
                          {4, 48, 33}, {9, 130, 20}, {2, 16, 2},   {24, 49, 9},   {15, 200, 4}};
  const int64_t guard = 16;
  for (const Shape &s : shapes)
    for (bool transA : {false, true})
      for (int64_t offset = 0; offset < 4; ++offset) { // C misaligned by 0-3 elements
        CAPTURE(s.m);
        CAPTURE(s.n);
        CAPTURE(s.k);
        CAPTURE(transA);
        CAPTURE(offset);
        std::vector<T> a(size_t(s.m * s.k)), b(size_t(s.k * s.n));
        for (T &x : a)
          x = T(u(rng));
        for (T &x : b)
          x = T(u(rng));
        // 64-byte aligned storage, C at `offset` elements past a boundary.
        std::vector<T> storage(size_t(s.m * s.n + 2 * guard + 64), T(-7));
        T *base = storage.data();
        while (reinterpret_cast<uintptr_t>(base) % 64)
          ++base;
        T *c = base + guard + offset;
        kernels::rankk::Scaling<T> scaling{T(-0.75), T(0.5)};
        if (!accumulate)
          scaling = {};
        std::vector<T> c0(size_t(s.m * s.n)), w(size_t(s.m * s.n)), wOut(w.size() + guard, T(-7));
        for (T &x : c0)
          x = T(u(rng));
        for (T &x : w)
          x = T(u(rng));
        const std::vector<T> w0 = w;
        T *out = offset % 2 == 0 ? w.data() : wOut.data();
        if (chained)
          scaling.then = {w.data(), out, T(-0.3)};
        if (accumulate)
          std::copy(c0.begin(), c0.end(), c);
        const kernels::rankk::Scaling<T> *sc = accumulate || chained ? &scaling : nullptr;
        if (kernel == 0)
          kernels::rankk::gemm(transA, s.m, s.n, s.k, a.data(), b.data(), c, stores, sc);
        else
          avx2Rows(transA, s.m, s.n, s.k, a.data(), b.data(), c, sc);
        std::vector<long double> want = plainProduct(transA, s.m, s.n, s.k, a, b);
        if (accumulate)
          for (size_t e = 0; e < want.size(); ++e)
            want[e] = -0.75L * want[e] + 0.5L * c0[e];
        int wrong = 0;
        for (int64_t e = 0; e < s.m * s.n && wrong < 3; ++e)
          if (std::fabs(double(c[e] - want[size_t(e)])) >
              tol * std::max(1.0L, std::fabs(want[size_t(e)]))) {
            ++wrong;
            CHECK_MESSAGE(false,
                          "element " << e << ": " << c[e] << " want " << double(want[size_t(e)]));
          }
        if (chained) {
          for (int64_t e = 0; e < s.m * s.n; ++e) {
            volatile T product = T(-0.3) * c[e]; // rounded on its own
            const T next = w0[size_t(e)] + product;
            if (!(out[e] == next)) {
              CHECK_MESSAGE(false, "chained element " << e << ": " << out[e] << " want " << next);
              break;
            }
          }
          for (size_t e = w.size(); e < wOut.size(); ++e)
            REQUIRE(wOut[e] == T(-7)); // nothing written past W'
        }
        for (T *p = base; p < c; ++p)
          REQUIRE(*p == T(-7)); // nothing written before C
        for (T *p = c + s.m * s.n; p < c + s.m * s.n + guard; ++p)
          REQUIRE(*p == T(-7)); // nor after it
      }
}

} // namespace

TEST_CASE("rank-k gemm: the plain product on tails, misaligned outputs and transposed A") {
  if (kernels::simdLevel() < 1) {
    MESSAGE("this CPU has neither AVX2 + FMA nor AVX-512: the rank-k kernel never runs");
    return;
  }
  using kernels::rankk::Stores;
  for (const char *threads : {"1", "force"})
    for (Stores stores : {Stores::Streaming, Stores::Plain}) {
      CAPTURE(threads);
      CAPTURE(int(stores));
      testing::ScopedSplitMode env(threads);
      checkShapes<float>(stores);
      checkShapes<double>(stores);
    }
  if (kernels::simdLevel() == 2) { // the AVX2 tile, which gemm() leaves out here
    checkShapes<float>(kernels::rankk::Stores::Plain, 1);
    checkShapes<double>(kernels::rankk::Stores::Plain, 1);
  }
}

// Plain and streamed stores start at a vector boundary of C (the columns
// before it and after the last whole vector by overlapping plain vectors):
// every element is computed the same way in any tile, so C has the same
// bits wherever it lies and whichever stores wrote it.
template <typename T> void checkSameBitsAnyAlignment() {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int64_t n : {int64_t(16), int64_t(48), int64_t(2000), int64_t(37), int64_t(5)}) {
    CAPTURE(n);
    const int64_t m = 11, k = 20;
    std::vector<T> a(size_t(m * k)), b(size_t(k * n));
    for (T &x : a)
      x = T(u(rng));
    for (T &x : b)
      x = T(u(rng));
    std::vector<T> first;
    for (int64_t offset = 0; offset < 8; ++offset) {
      CAPTURE(offset);
      std::vector<T> storage(size_t(m * n + 64));
      T *c = storage.data();
      while (reinterpret_cast<uintptr_t>(c) % 64)
        ++c;
      c += offset;
      for (auto stores : {kernels::rankk::Stores::Plain, kernels::rankk::Stores::Streaming}) {
        CAPTURE(int(stores));
        std::fill(storage.begin(), storage.end(), T(0));
        kernels::rankk::gemm(false, m, n, k, a.data(), b.data(), c, stores);
        std::vector<T> got(c, c + m * n);
        if (first.empty())
          first = got;
        else
          CHECK(std::memcmp(got.data(), first.data(), got.size() * sizeof(T)) == 0);
      }
    }
  }
}

TEST_CASE("rank-k gemm: plain or streamed stores give the same bits wherever C lies") {
  if (kernels::simdLevel() < 1)
    return;
  for (const char *threads : {"1", "force"}) {
    CAPTURE(threads);
    testing::ScopedSplitMode env(threads);
    checkSameBitsAnyAlignment<float>();
    checkSameBitsAnyAlignment<double>();
  }
}

TEST_CASE("rank-k gemm: accumulating C = alpha op(A) B + beta C, with every store choice") {
  if (kernels::simdLevel() < 1)
    return; // never runs (above)
  using kernels::rankk::Stores;
  for (const char *threads : {"1", "force"})
    for (Stores stores : {Stores::Streaming, Stores::Plain}) {
      CAPTURE(threads);
      CAPTURE(int(stores)); // accumulating never streams: it reads C
      testing::ScopedSplitMode env(threads);
      checkShapes<float>(stores, 0, true);
      checkShapes<double>(stores, 0, true);
    }
  if (kernels::simdLevel() == 2) {
    checkShapes<float>(Stores::Plain, 1, true);
    checkShapes<double>(Stores::Plain, 1, true);
  }
}

TEST_CASE("rank-k gemm: a chained update W + s C written from each finished element") {
  if (kernels::simdLevel() < 1)
    return; // never runs (above)
  using kernels::rankk::Stores;
  for (const char *threads : {"1", "force"})
    for (Stores stores : {Stores::Streaming, Stores::Plain})
      for (bool accumulate : {false, true}) {
        CAPTURE(threads);
        CAPTURE(int(stores)); // a chained update never streams
        CAPTURE(accumulate);
        testing::ScopedSplitMode env(threads);
        checkShapes<float>(stores, 0, accumulate, true);
        checkShapes<double>(stores, 0, accumulate, true);
      }
  if (kernels::simdLevel() == 2)
    for (bool accumulate : {false, true}) {
      checkShapes<float>(Stores::Plain, 1, accumulate, true);
      checkShapes<double>(Stores::Plain, 1, accumulate, true);
    }
}

TEST_CASE("rank-k gemm: taken only for short inner dimensions, large outputs, B packed if small") {
  using kernels::rankk::applies;
  const bool simd = kernels::simdLevel() >= 1;
  CHECK(applies<double>(false, 2000, 2000, 20) == simd);
  CHECK(applies<float>(false, 2000, 2000, kernels::rankk::kMaxInner) == simd);
  CHECK_FALSE(applies<float>(false, 2000, 2000, kernels::rankk::kMaxInner + 1));
  CHECK_FALSE(applies<double>(false, 64, 64, 20)); // 32 KiB of output
  CHECK_FALSE(applies<double>(false, 2000, 2000, 0));
  // B transposed: copied into B's layout where the copy is small.
  CHECK(applies<float>(true, 64, 256, 10) == simd); // the MLP's dZ W^T: 64 KiB
  CHECK(applies<double>(true, 2000, 2000, 20) == simd);
  CHECK_FALSE(applies<float>(true, 4, 1 << 20, 16));   // 4 rows: the copy is a quarter of the work
  CHECK_FALSE(applies<double>(true, 64, 1 << 20, 16)); // a 128 MiB copy
}

TEST_CASE("rank-k gemm: streaming stores offered for outputs past half the last-level cache") {
  using kernels::rankk::parseCacheSize;
  CHECK(parseCacheSize("32768K\n") == int64_t(32) << 20);
  CHECK(parseCacheSize("1M") == int64_t(1) << 20);
  CHECK(parseCacheSize("2G\n") == int64_t(2) << 30);
  CHECK(parseCacheSize("512") == 512);
  for (const char *bad : {"", "K", "12X", "12K8", "-1K", "1234567890K"}) {
    CAPTURE(bad);
    CHECK(parseCacheSize(bad) == 0);
  }
  const int64_t cache = kernels::rankk::lastLevelCacheBytes();
  if (kernels::simdLevel() < 1 || cache <= 0) {
    MESSAGE("no rank-k kernel here, or no cache size known: nothing is streamed");
    CHECK_FALSE(kernels::rankk::streams<double>(1 << 16, 1024));
    return;
  }
  using kernels::rankk::streams;
  const int64_t n = 256, past = cache / 2 / (n * 8) + 1; // f64 rows past half the cache
  CHECK(streams<double>(past, n));
  CHECK_FALSE(streams<double>(past - 1, n));
  CHECK(streams<float>(2 * past, n));
  CHECK_FALSE(streams<float>(past, n));
  CHECK_FALSE(streams<double>(2 * past, n + 1)); // rows not whole vectors
}

TEST_CASE("rank-k gemm: the streamed way gives the plain way's bits in a compiled product") {
  // A product past half the last-level cache (when that is at most 64
  // MiB: a test's memory), forced on the rank-k kernel with streaming
  // stores, with plain ones, and measured among all the ways.
  const int64_t cache = kernels::rankk::lastLevelCacheBytes();
  if (kernels::simdLevel() < 1 || cache <= 0 || cache > (int64_t(64) << 20)) {
    MESSAGE("no rank-k kernel, or a last-level cache unknown or over 64 MiB: not tested here");
    return;
  }
  const int64_t n = 256, m = cache / 2 / (n * 8) + 8;
  REQUIRE(kernels::rankk::streams<double>(m, n));
  ir::Graph g("rank20_streamed");
  ir::Value a = ir::input(g, "a", ir::f64({m, 20}));
  ir::Value b = ir::input(g, "b", ir::f64({20, n}));
  ir::output(ir::matmul(a, b).named("c"));
  runtime::Bindings bindings = testing::randomBindings(g, 7);
  compiler::JitOptions options;
  options.blasThreshold = 0;
  options.useCache = false;
  auto jit = runtime::makeExecutable(g, runtime::Backend::Jit, options);
  auto outputOf = [&](const char *kernel) {
    ScopedGemmWay way(kernel);
    return jit->run(bindings).outputs.at(0);
  };
  const ir::Tensor plain = outputOf("rank-k"), streamed = outputOf("rank-k-stream");
  REQUIRE(plain.numel() == m * n);
  bool same = true;
  for (int64_t e = 0; e < m * n && same; ++e)
    same = plain.at(e) == streamed.at(e);
  CHECK(same);
  ScopedGemmWay measured("measure");
  for (int call = 0; call < 3; ++call) // the first samples of the ways
    jit->run(bindings);
  testing::checkJitMatchesInterpreter(g, bindings, options);
}

TEST_CASE("rank-k gemm: a transposed B packed into B's layout gives the product with B^T") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  // Tails of the packing's blocks of 16 rows and of the kernel's tiles.
  for (auto [m, n, k] : {std::array<int64_t, 3>{64, 256, 10}, {13, 37, 5}, {9, 16, 1}}) {
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    std::vector<double> a(size_t(m * k)), bt(size_t(n * k)), b(size_t(k * n));
    for (double &x : a)
      x = u(rng);
    for (double &x : bt)
      x = u(rng);
    kernels::rankk::packTransposed(n, k, bt.data(), b.data());
    for (int64_t q = 0; q < k; ++q)
      for (int64_t j = 0; j < n; ++j)
        REQUIRE(b[size_t(q * n + j)] == bt[size_t(j * k + q)]);
    if (kernels::simdLevel() < 1)
      continue;
    std::vector<double> c(size_t(m * n));
    kernels::rankk::gemm(false, m, n, k, a.data(), b.data(), c.data(),
                         kernels::rankk::Stores::Plain);
    const std::vector<long double> want = plainProduct(false, m, n, k, a, b);
    for (size_t e = 0; e < c.size(); ++e)
      CHECK(double(std::fabs(c[e] - want[e])) <= 1e-13);
  }
}

TEST_CASE(
    "measured choice: the fastest way runs once all are measured, and the variable forces one") {
  auto spin = [](double seconds) {
    const double until = kernels::monotonicSeconds() + seconds;
    while (kernels::monotonicSeconds() < until) {
    }
  };
  int slow = 0, fast = 0;
  auto runBoth = [&](uint64_t key, int calls, bool slowIsFirst) {
    for (int i = 0; i < calls; ++i)
      kernels::runMeasured(key, kernels::forcedGemmWay(), 2, [&](int way) {
        if ((way == 0) == slowIsFirst) {
          ++slow;
          spin(2e-3);
        } else {
          ++fast;
        }
      });
  };
  {
    ScopedGemmWay way("measure");
    runBoth(0x5eed0001, 200, true);
    // kFirstSamples, about 1 in 64 to explore: a few more if a fast call
    // was preempted on a loaded machine, far from 200.
    CHECK(slow <= 20);
    CHECK(fast + slow == 200);
    slow = fast = 0;
    runBoth(0x5eed0002, 200, false); // the other way round
    CHECK(slow <= 20);
  }
  {
    // Three ways, the last the fastest (as products choose among one call,
    // a split and OpenBLAS's threads).
    ScopedGemmWay way("measure");
    int runs[3] = {0, 0, 0};
    for (int i = 0; i < 200; ++i)
      kernels::runMeasured(0x5eed0004, -1, 3, [&](int way) {
        ++runs[way];
        if (way != 2)
          spin(2e-3);
      });
    CHECK(runs[0] + runs[1] + runs[2] == 200);
    CHECK(runs[0] + runs[1] <= 24); // kFirstSamples each, then about 1 in 64
    CHECK(runs[0] >= int(kernels::kFirstSamples));
    CHECK(runs[1] >= int(kernels::kFirstSamples));
  }
  {
    // The machine slows down twelvefold after the first samples, both ways
    // alike: the faster way keeps the choice. Ageing a way's least time by
    // its own samples only, the slower one kept its time from the fast phase
    // and took the choice back for a dozen calls or more at a time. (The
    // ways are 4x apart: a preempted call of the faster one does not turn
    // the choice on a loaded machine.)
    ScopedGemmWay way("measure");
    int runs[2] = {0, 0};
    double scale = 1;
    auto call = [&] {
      kernels::runMeasured(0x5eed0005, -1, 2, [&](int way) {
        ++runs[way];
        spin(scale * (way == 0 ? 4e-4 : 1e-4));
      });
    };
    for (int i = 0; i < 20; ++i)
      call();
    scale = 12;
    runs[0] = runs[1] = 0;
    for (int i = 0; i < 200; ++i)
      call();
    CHECK(runs[0] <= 10); // about 3 explorations
  }
  {
    // A way that is slower on its first call after another way's (its data
    // where the other left it), as the rank-k kernel after BLAS's split:
    // chosen against in the first samples, it is explored on first calls
    // only. Close enough, it runs again on the next call (kSecondLook),
    // and its own pace takes the choice; judged on first calls it never
    // did (about 5 of the 300 calls).
    ScopedGemmWay way("measure");
    int runs[2] = {0, 0};
    bool early = true;
    int last = -1;
    auto call = [&] {
      kernels::runMeasured(0x5eed0006, -1, 2, [&](int way) {
        ++runs[way];
        if (way == 0)
          spin(2e-4);
        else
          spin(early ? 4e-4 : last == 0 ? 2.5e-4 : 0.5e-4);
        last = way;
      });
    };
    for (int i = 0; i < 10; ++i)
      call();
    // First samples: way 1 slower then, way 0 chosen for the calls after.
    CHECK(runs[0] == 10 - int(kernels::kFirstSamples));
    early = false;
    runs[0] = runs[1] = 0;
    for (int i = 0; i < 300; ++i)
      call();
    CAPTURE(runs[0]);
    CHECK(runs[1] >= 100);
  }
  for (const char *forced : {"blas", "rank-k"}) {
    ScopedGemmWay way(forced);
    int first = 0, second = 0;
    for (int i = 0; i < 10; ++i)
      kernels::runMeasured(0x5eed0003, kernels::forcedGemmWay(), 2,
                           [&](int way) { ++(way == 1 ? second : first); });
    CHECK(first == (std::string(forced) == "blas" ? 10 : 0));
    CHECK(second == 10 - first);
  }
}

TEST_CASE("rank-k gemm: compiled products give the interpreter's values on either kernel") {
  // Large enough outputs (over 64 KiB) for the kernel to be a candidate:
  // a Jacobian's last product (f64, rows a whole number of vectors), the
  // same with A transposed, and an f32 product whose rows are not.
  std::vector<ir::Graph> graphs;
  {
    ir::Graph g("rank20");
    ir::Value a = ir::input(g, "a", ir::f64({300, 20}));
    ir::Value b = ir::input(g, "b", ir::f64({20, 304}));
    ir::output(ir::matmul(a, b).named("c"));
    graphs.push_back(std::move(g));
  }
  {
    ir::Graph g("rank20_transposed");
    ir::Value a = ir::input(g, "a", ir::f64({20, 300}));
    ir::Value b = ir::input(g, "b", ir::f64({20, 304}));
    ir::output(ir::matmul(ir::transpose(a), b).named("c"));
    graphs.push_back(std::move(g));
  }
  {
    // B transposed (a backward pass's dZ W^T): packed for the rank-k kernel.
    ir::Graph g("rank10_transposed_b_f32");
    ir::Value a = ir::input(g, "a", ir::f32({64, 10}));
    ir::Value b = ir::input(g, "b", ir::f32({256, 10}));
    ir::output(ir::matmul(a, ir::transpose(b)).named("c"));
    graphs.push_back(std::move(g));
  }
  {
    ir::Graph g("rank12_transposed_b_f64");
    ir::Value a = ir::input(g, "a", ir::f64({40, 12}));
    ir::Value b = ir::input(g, "b", ir::f64({301, 12}));
    ir::output(ir::matmul(a, ir::transpose(b)).named("c"));
    graphs.push_back(std::move(g));
  }
  {
    ir::Graph g("rank16_f32");
    ir::Value a = ir::input(g, "a", ir::f32({200, 16}));
    ir::Value b = ir::input(g, "b", ir::f32({16, 333}));
    ir::output(ir::matmul(a, b).named("c"));
    graphs.push_back(std::move(g));
  }
  // Every product through the library's GEMM, whatever this machine's
  // calibrated threshold says (it may choose generated loops for these).
  compiler::JitOptions options;
  options.blasThreshold = 0;
  for (const char *kernel : {"blas", "rank-k", static_cast<const char *>(nullptr)}) {
    CAPTURE((kernel ? kernel : "measured"));
    ScopedGemmWay way(kernel);
    for (const ir::Graph &g : graphs) {
      CAPTURE(g.name());
      runtime::Bindings bindings = testing::randomBindings(g, 11);
      // The measured choice's first calls run every way (up to four here:
      // one call, a split, OpenBLAS's threads, the rank-k kernel) twice.
      for (int call = 0; call < 9; ++call)
        testing::checkJitMatchesInterpreter(g, bindings, options);
    }
  }
}
