// Internal to the library kernels: row-major GEMM through OpenBLAS, one name
// for float and double, with the degenerate sizes BLAS rejects handled here,
// and split over the kernel pool's threads where that measures faster.
// OpenBLAS's LP64 interface takes int sizes: a matrix side must stay below
// 2^31.
//
// Splitting is offered only while OpenBLAS runs each call on the calling
// thread (set to one thread, as the chainjit CLI does: BlasThreads.h). Its
// own threads then never spin on the CPUs the pool's threads need, and one
// product is cut into a part per CPU along its longer side, each a BLAS
// call of its own, or along its inner dimension with the parts added
// (splitInnerGemm). Whether and how a shape splits is measured (MeasuredChoice.h):
// on the Fashion MLP's products with 64 rows, OpenBLAS's own two threads
// gained nothing over one, while two halves took about half the time
// (docs/performance.md).
#pragma once

#include "ChainedUpdate.h"
#include "GemmWay.h"
#include "MeasuredChoice.h"
#include "ParallelItems.h"
#include "SimdLevel.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// OpenBLAS's thread count; weak, so that a bundle linked with another BLAS
// still links (and never splits).
extern "C" int openblas_get_num_threads(void) __attribute__((weak));
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace chainjit::compiler::jit::kernels {

// C = alpha op(A) op(B) + beta C.
inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c,
                     int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha,
                     const double *a, int lda, const double *b, int ldb, double beta, double *c,
                     int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Rows [i0, i1) and columns [j0, j1) of C = alpha op(A) op(B) + beta C, one
// BLAS call (beta = 0: C is not read), then of `then`'s value from them.
template <typename T> struct GemmOperands {
  bool transA, transB;
  int64_t m, n, k;
  const T *a, *b;
  T *c;
  T alpha = 1, beta = 0;
  ChainedUpdate<T> then{};
  void block(int64_t i0, int64_t i1, int64_t j0, int64_t j1) const {
    call(i0, i1, j0, j1, 0, k, beta, c + i0 * n + j0);
    if (then)
      then.apply(c, n, i0, i1, j0, j1);
  }
  // out [m, n] = alpha op(A) op(B) over the inner range [q0, q1), or that
  // added to out (accumulate), one BLAS call (beta and `then` are the
  // caller's).
  void innerPart(int64_t q0, int64_t q1, T *out, bool accumulate) const {
    call(0, m, 0, n, q0, q1, accumulate ? T(1) : T(0), out);
  }

private:
  // out = alpha op(A)[i0:i1, q0:q1) op(B)[q0:q1, j0:j1) + outBeta out, one
  // BLAS call; out's rows are n elements apart.
  void call(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t q0, int64_t q1, T outBeta,
            T *out) const {
    blasGemm(transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
             static_cast<int>(i1 - i0), static_cast<int>(j1 - j0), static_cast<int>(q1 - q0), alpha,
             a + (transA ? q0 * m + i0 : i0 * k + q0), static_cast<int>(transA ? m : k),
             b + (transB ? j0 * k + q0 : q0 * n + j0), static_cast<int>(transB ? k : n), outBeta,
             out, static_cast<int>(n));
  }
};

// Products with fewer multiply-adds are never split: a few microseconds,
// the order of handing work to a thread.
inline constexpr int64_t kMinSplitMultiplyAdds = int64_t(1) << 18;

// C split into `parts` blocks along its longer side, block t on thread t,
// in proportion to the threads' recent speeds (ThreadSpeeds); column
// blocks start on 64-byte boundaries of the row. False, having done
// nothing, when the pool is in use.
template <typename T> bool splitGemm(WorkerPool &pool, const GemmOperands<T> &g, int64_t parts) {
  constexpr int64_t align = std::max<int64_t>(1, 64 / int64_t(sizeof(T)));
  const bool byRows = g.m >= g.n;
  const int64_t columnRuns = (g.n + align - 1) / align; // whole 64-byte column runs
  parts = std::clamp<int64_t>(std::min(parts, byRows ? g.m : columnRuns), 1, kMaxThreads);
  struct Split {
    const GemmOperands<T> *g;
    bool byRows;
    int64_t bound[kMaxThreads + 1];
    SplitTally tally;
  };
  Split split{&g, byRows, {}, {}};
  splitBounds(modelSpeeds(pool), byRows ? g.m : columnRuns, parts, split.bound);
  split.tally.start = monotonicSeconds();
  const bool ran = pool.run(
      parts,
      +[](void *context, int64_t t) {
        Split &s = *static_cast<Split *>(context);
        const GemmOperands<T> &o = *s.g;
        const int64_t from = s.bound[t], to = s.bound[t + 1];
        if (to > from) {
          if (s.byRows)
            o.block(from, to, 0, o.n);
          else
            o.block(0, o.m, std::min(o.n, from * align), std::min(o.n, to * align));
        }
        s.tally.done(t, double(to - from));
      },
      &split);
  if (ran)
    split.tally.record(pool, parts);
  return ran;
}

// What a thread's scratch buffer holds: the inner split's parts, or an
// operand copied into the layout a kernel reads (the rank-k kernel's B).
enum class ScratchSlot { InnerParts, PackedOperand };

// A buffer of at least `count` T's for the calling thread, one per slot,
// kept for its next call (a product called every training step allocates
// nothing after its first call); null when memory runs out. Never freed: a
// thread's buffer lives as long as the thread (libc only: no destructor).
template <typename T, ScratchSlot slot = ScratchSlot::InnerParts> T *threadScratch(int64_t count) {
  static thread_local T *buffer = nullptr;
  static thread_local int64_t capacity = 0;
  if (count > capacity) { // its contents need not be kept
    std::free(buffer);
    buffer = static_cast<T *>(std::malloc(size_t(count) * sizeof(T)));
    capacity = buffer ? count : 0;
  }
  return buffer;
}

// to[e] += from[e] for e < count, in vectors of `bytes`.
template <typename T, int bytes>
[[gnu::always_inline]] inline void addIntoVectors(T *to, const T *from, int64_t count) {
  typedef T Vec __attribute__((vector_size(bytes)));
  constexpr int64_t lanes = bytes / int64_t(sizeof(T));
  int64_t e = 0;
  for (; e + lanes <= count; e += lanes) {
    Vec a, b;
    std::memcpy(&a, to + e, sizeof(Vec));
    std::memcpy(&b, from + e, sizeof(Vec));
    a += b;
    std::memcpy(to + e, &a, sizeof(Vec));
  }
  for (; e < count; ++e)
    to[e] += from[e];
}
#if defined(__x86_64__)
template <typename T>
__attribute__((target("avx512f"))) void addIntoAvx512(T *to, const T *from, int64_t count) {
  addIntoVectors<T, 64>(to, from, count);
}
template <typename T>
__attribute__((target("avx2"))) void addIntoAvx2(T *to, const T *from, int64_t count) {
  addIntoVectors<T, 32>(to, from, count);
}
#endif
// to[e] += from[e] for e < count in the CPU's widest vectors: the sum of an
// inner split's parts, where `from` is in the other CPU's cache. Two threads
// in one process, the Fashion MLP's 64 x 256 parts: 16-byte vectors took
// 9.1-9.5 us on average, 64-byte ones 5.6-5.8 (docs/performance.md).
template <typename T> void addInto(T *to, const T *from, int64_t count) {
#if defined(__x86_64__)
  if (const int level = simdLevel(); level == 2)
    return addIntoAvx512(to, from, count);
  else if (level == 1)
    return addIntoAvx2(to, from, count);
#endif
  addIntoVectors<T, 16>(to, from, count);
}

// Inner ranges are at least this long: shorter ones leave too little work
// per part for the sum of the parts to pay.
inline constexpr int64_t kMinInnerPart = 128;

// Whether the inner split is offered: B larger than C (k > m; the columns'
// and rows' splits then each read B on every CPU, or most of it) and
// ranges of kMinInnerPart or more; a plain product (beta = 0, no chained
// update: the parts are added into C).
template <typename T> bool innerSplitFits(const GemmOperands<T> &g, int64_t parts) {
  return parts > 1 && g.k > g.m && g.k >= parts * kMinInnerPart && g.beta == T(0) && !g.then;
}

// C = alpha op(A) op(B) with the inner dimension k cut into `ranges`
// contiguous ranges, their products on the pool's threads by
// part(q0, q1, out, accumulate) as GemmOperands::innerPart: thread t's into
// its own buffer (C for the calling thread, a scratch buffer for the
// others), then the buffers added into C. For the first layer's forward
// product of a training step (64 x 784 times 784 x 256, a range per CPU):
// range t is the rows of the weights B that the weight gradient's row
// split (the rank-k kernel's and splitGemm's parts, contiguous row ranges
// in thread order) updated on the same thread in the step before, so the
// weights stay in that CPU's cache instead of crossing to the other CPU on
// every step (docs/performance.md). The ranges are shared as SharedUnits:
// a thread that finds another's range not yet begun when it has finished
// its own does it, adding it into its buffer, rather than wait for a thread
// that has not woken. Not in smaller pieces: a piece of another thread's
// range needs that range's rows of B from the other CPU's cache (chunks of
// 8 of the 64 rows, tried: the product took 5% longer). The sum's order
// differs from one call's (as the other ways' blocking may): the result
// agrees within rounding. False, having done nothing, when the pool is in
// use or no scratch could be had.
template <typename T, typename Part>
bool splitInnerGemm(WorkerPool &pool, const GemmOperands<T> &g, int64_t ranges, const Part &part) {
  ranges = std::clamp<int64_t>(ranges, 1, kMaxThreads);
  const int64_t size = g.m * g.n, threads = std::min(ranges, pool.workers() + 1);
  T *scratch = threadScratch<T>((threads - 1) * size);
  if (!scratch)
    return false;
  struct alignas(64) Written { // a thread's own line: whether its buffer holds a sum
    bool any = false;
  };
  struct Split {
    const GemmOperands<T> *g;
    const Part *part;
    T *scratch;
    SharedUnits shared;
    Written written[kMaxThreads];
    int64_t bound[kMaxThreads + 1]; // range r is [bound[r], bound[r + 1]) of k
  };
  Split split{&g, &part, scratch, SharedUnits(ranges, threads), {}, {}};
  // A range per thread: in proportion to the threads' speeds (ThreadSpeeds),
  // as the weight gradient's rows are, so that range t is still the rows
  // of B that thread t wrote.
  splitBounds(ranges == threads ? modelSpeeds(pool) : nullptr, g.k, ranges, split.bound);
  split.shared.tally.start = monotonicSeconds();
  const bool ran = pool.run(
      threads,
      +[](void *context, int64_t t) {
        Split &s = *static_cast<Split *>(context);
        T *out = t == 0 ? s.g->c : s.scratch + (t - 1) * s.g->m * s.g->n;
        int64_t extent = 0;
        s.shared.runAs(t, [&](int64_t range) {
          const int64_t q0 = s.bound[range], q1 = s.bound[range + 1];
          if (q1 <= q0)
            return;
          (*s.part)(q0, q1, out, s.written[t].any);
          s.written[t].any = true;
          extent += q1 - q0;
        });
        s.shared.tally.done(t, double(extent));
      },
      &split);
  if (!ran)
    return false;
  split.shared.tally.record(pool, threads);
  bool summed = split.written[0].any;
  for (int64_t t = 1; t < threads; ++t) {
    if (!split.written[t].any)
      continue;
    const T *from = scratch + (t - 1) * size;
    if (!summed)
      std::memcpy(g.c, from, size_t(size) * sizeof(T));
    else
      addInto(g.c, from, size);
    summed = true;
  }
  return true;
}

// No other kernel: gemmRowMajor's ways are BLAS's alone. An other kernel
// runs the whole product (operator()(streamed)), with streaming stores as
// a way of its own where streamOffered(), and, where partsOffered(), the
// inner split's parts on the calling thread (part(q0, q1, out, accumulate)
// as GemmOperands::innerPart).
struct NoOtherKernel {
  bool offered() const { return false; }
  bool streamOffered() const { return false; }
  void operator()(bool) const {}
  bool partsOffered() const { return false; }
  template <typename T> void part(int64_t, int64_t, T *, bool) const {}
};

// C [m, n] = alpha op(A) op(B) + beta C, all dense row-major: op(A) is
// A [m, k] or, with transA, A [k, m] transposed; likewise op(B) from [k, n]
// or [n, k]; beta = 0 does not read C (BLAS's convention). BLAS rejects
// leading dimensions of 0, so empty products are done here: no output, or
// k = 0 (a sum of nothing: beta C). `then`'s value is written from C's
// finished elements, by each way inside its own timing (a split's threads
// each from their part of C); `other` writes it too.
//
// The ways a product can run, one measured choice per shape: one BLAS call
// on this thread; split over the pool; one call on OpenBLAS's own threads
// for this product alone (large square-ish products, where its threads
// share the packed operands and gained 20% over two halves inside a
// training step, docs/performance.md); split over the pool along the inner
// dimension (innerSplitFits), each part one BLAS call or, where
// other.partsOffered(), the other kernel's; and `other`, a kernel of the
// caller's, where other.offered() (the rank-k kernel, LinAlg.cpp), and
// the same with streaming stores where other.streamOffered(). One
// choice among all of them, not a choice nested in another: the outer one
// would time the inner one's first tries. $CHAINJIT_GEMM_KERNEL=blas leaves
// `other` out, =rank-k runs it with plain stores (its parts of the inner
// split where it does not take the whole product) and =rank-k-stream with
// streaming ones where offered; $CHAINJIT_KERNEL_THREADS=1 leaves the
// pool's ways out (no pool is started) and =force splits.
template <typename T, typename Other = NoOtherKernel>
void gemmRowMajor(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const T *a, const T *b,
                  T *c, const Other &other = Other{}, T alpha = 1, T beta = 0,
                  ChainedUpdate<T> then = {}) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) {
    for (int64_t i = 0; i < m * n; ++i)
      c[i] = beta == T(0) ? T(0) : beta * c[i];
    if (then)
      then.apply(c, n, 0, m, 0, n);
    return;
  }
  const GemmOperands<T> g{transA, transB, m, n, k, a, b, c, alpha, beta, then};
  const int forcedKernel = other.offered() || other.partsOffered() ? forcedGemmWay() : 0;
  if (forcedKernel >= 1 && other.offered())
    return other(forcedKernel == 2 && other.streamOffered());
  // The cheap tests first: the environment is read only for products that
  // could split.
  const bool splittable = m * n * k >= kMinSplitMultiplyAdds && openblas_get_num_threads &&
                          openblas_get_num_threads() == 1;
  const SplitMode mode = splittable ? splitMode() : SplitMode::Never;
  WorkerPool *pool = mode != SplitMode::Never ? WorkerPool::get() : nullptr;
  enum Way {
    OneCall,
    Split,
    OpenBlasThreads,
    SplitInner,
    SplitInnerOther,
    OtherKernel,
    OtherKernelStreamed
  };
  Way ways[kMaxWays];
  int count = 0;
  ways[count++] = OneCall;
  const bool innerSplit = pool && innerSplitFits(g, pool->workers() + 1);
  if (pool) {
    ways[count++] = Split;
    if (openblas_set_num_threads)
      ways[count++] = OpenBlasThreads;
    if (innerSplit)
      ways[count++] = SplitInner;
  }
  if (other.offered() && forcedKernel < 0) {
    ways[count++] = OtherKernel;
    if (other.streamOffered())
      ways[count++] = OtherKernelStreamed;
  }
  if (innerSplit && other.partsOffered() && forcedKernel != 0)
    ways[count++] = SplitInnerOther;
  if (count == 1)
    return g.block(0, m, 0, n);
  // Forced: the other kernel's parts where it runs only those (the whole
  // product is not its), else a split (ways[1] is Split).
  const int forced = forcedKernel >= 1 && ways[count - 1] == SplitInnerOther ? count - 1
                     : pool && mode == SplitMode::Always                     ? 1
                                                                             : -1;
  // The shape's key (a collision would only share a measurement).
  const uint64_t key = (uint64_t(m) << 42) ^ (uint64_t(n) << 21) ^ uint64_t(k) ^
                       (uint64_t(transA) << 61) ^ (uint64_t(transB) << 60) ^
                       (uint64_t(sizeof(T) == 8) << 59) ^ (uint64_t(count) << 62) ^
                       (uint64_t(beta != T(0)) << 58) ^ // reading C changes the ways' costs
                       (uint64_t(bool(then)) << 57);    // and so does a chained update
  runMeasured(key, forced, count, [&](int w) {
    switch (ways[w]) {
    case Split:
      if (splitGemm(*pool, g, pool->workers() + 1))
        return;
      break; // the pool is in use: one call
    case SplitInner:
      if (splitInnerGemm(*pool, g, pool->workers() + 1,
                         [&](int64_t q0, int64_t q1, T *out, bool accumulate) {
                           g.innerPart(q0, q1, out, accumulate);
                         }))
        return;
      break; // the pool is in use or no scratch: one call
    case SplitInnerOther:
      if (splitInnerGemm(*pool, g, pool->workers() + 1,
                         [&](int64_t q0, int64_t q1, T *out, bool accumulate) {
                           other.part(q0, q1, out, accumulate);
                         }))
        return;
      break;
    case OpenBlasThreads:
      openblas_set_num_threads(int(pool->workers() + 1));
      g.block(0, m, 0, n);
      openblas_set_num_threads(1);
      return;
    case OtherKernel:
      return other(false);
    case OtherKernelStreamed:
      return other(true);
    case OneCall:
      break;
    }
    g.block(0, m, 0, n);
  });
}

// C [m, n] += op(A) op(B), one BLAS call on this thread (sums of per-image
// products: the weight gradient of a convolution, Conv.cpp). k = 0 adds
// nothing.
template <typename T>
void gemmAccumulate(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const T *a,
                    const T *b, T *c) {
  if (m == 0 || n == 0 || k == 0)
    return;
  GemmOperands<T>{transA, transB, m, n, k, a, b, c, T(1), T(1)}.block(0, m, 0, n);
}

} // namespace chainjit::compiler::jit::kernels
