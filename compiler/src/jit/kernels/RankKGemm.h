// Internal to LinAlg.cpp: the rank-k product C [m, n] = op(A) B for a short
// inner dimension k, the shape of a Jacobian's last product (2000 x 20 times
// 20 x 2000) and of a backward pass's dZ W^T through a classifier head (64
// x 10 times 10 x 256; the caller packs the transposed B into B's layout,
// packTransposed): a large output made from few multiply-adds per element. BLAS
// spends much of such a product on C itself: OpenBLAS first writes C once
// for beta = 0, then its kernel reads and writes it again (perf on the
// 2000-20-2000 Jacobian: dgemm_beta 28 % of the time, docs/performance.md),
// and packs panels that k = 20 hardly reuses. Here every element of C is
// finished in registers and written once, and the rows are split over
// threads (ParallelItems.h). A plain product larger than half the
// last-level cache may also be written with streaming (non-temporal)
// stores, which do not read the line first (streams); whether it is, is
// measured with the kernel's other ways (Blas.h). A smaller one is written
// with plain stores, so that the op reading it next finds it in the cache.
//
// Each tile of R rows by NV vectors of C is accumulated in registers over
// all of k: per step of k, NV vector loads of B's row and R broadcasts of
// A. The tile is as large as the ISA's registers allow (Tile below). B's
// panel of k rows stays in L1 for k up to kMaxInner.
// Which of this and BLAS runs a shape is measured (MeasuredChoice.h); this
// header only computes. Header-only, libc only, like DirectConv.h: the AOT
// kernel object carries it.
#pragma once

#include "ChainedUpdate.h"
#include "ParallelItems.h"
#include "SimdLevel.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <unistd.h>

namespace chainjit::compiler::jit::kernels::rankk {

// The register tile per ISA: rows of C and vectors per row. AVX-512 has 32
// vector registers: 8 x 3 accumulators, 3 of B and a broadcast; AVX2 has
// 16: 4 x 2, 2 and 1. On the Jacobian's 2000 x 20 x 20 x 2000 product (f64,
// both CPUs) the 8 x 3 tile took 1.4-2.2 ms against 2.7-3.1 ms for 4 x 2
// (docs/performance.md).
template <int Rows, int Vecs> struct Tile { static constexpr int rows = Rows, vecs = Vecs; };
using Avx512Tile = Tile<8, 3>;
using Avx2Tile = Tile<4, 2>;
// Longest k this kernel takes: B's panel for one tile (k rows of 3 64-byte
// vectors) within 24 KiB, so it stays in the L1 data cache of the CPUs with
// AVX-512 (32 KiB or more). Longer products have enough work per element
// for BLAS's blocking.
constexpr int64_t kMaxInner = 128;
// Smallest output it takes: 64 KiB, so that one call lasts long enough
// (microseconds) for the measured choice to time it reliably.
constexpr int64_t kMinOutputBytes = 64 << 10;

// Largest transposed B the caller copies into B's layout: a copy of a
// larger operand would add its size to the process's memory for one
// product.
constexpr int64_t kMaxPackedBytes = int64_t(8) << 20;

// Whether the kernel can run C = op(A) op(B) of this shape on this CPU (an
// x86-64 with AVX2 + FMA or AVX-512). A transposed B ([n, k], the backward
// pass's dZ W^T) is first copied into B's own layout (packTransposed): at
// most kMaxPackedBytes, and for 8 rows of C or more, so that the copy's k x
// n elements are at most an eighth of the m x n x k multiply-adds.
template <typename T> bool applies(bool transB, int64_t m, int64_t n, int64_t k) {
  if (transB && (m < 8 || n * k * int64_t(sizeof(T)) > kMaxPackedBytes))
    return false;
  return k >= 1 && k <= kMaxInner && m >= 1 && n >= 1 &&
         m * n * int64_t(sizeof(T)) >= kMinOutputBytes && simdLevel() >= 1;
}

// out [k, n] = B^T for B [n, k] row-major: the rank-k kernel reads B's rows
// along n. In blocks of rows of B, so that a block's lines stay in L1 while
// its columns are written out.
template <typename T> void packTransposed(int64_t n, int64_t k, const T *b, T *out) {
  constexpr int64_t block = 16;
  for (int64_t j0 = 0; j0 < n; j0 += block) {
    const int64_t j1 = std::min(n, j0 + block);
    for (int64_t q = 0; q < k; ++q)
      for (int64_t j = j0; j < j1; ++j)
        out[q * n + j] = b[j * k + q];
  }
}

// A(i, q) of op(A): A [m, k] or, transposed, [k, m].
template <typename T> struct Lhs {
  const T *a;
  int64_t row, col; // strides of i and q
  T at(int64_t i, int64_t q) const { return a[i * row + q * col]; }
};

// How a finished tile goes to C: written (plain or streamed), or
// accumulated as C = alpha * tile + beta * C (a training step's update
// fused into its weight gradient, LinAlg.cpp).
enum class Write { Plain, Stream, Accumulate };
// alpha and beta for Write::Accumulate; `then`, a second value written from
// C's finished elements (momentum's weight step; any write but Stream).
template <typename T> struct Scaling {
  T alpha = 1, beta = 0;
  ChainedUpdate<T> then{};
};

template <typename T>
inline void scalarColumns(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i0,
                          int64_t i1, int64_t j0, int64_t j1, Write write, Scaling<T> sc) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = j0; j < j1; ++j) {
      T s = 0;
      for (int64_t q = 0; q < k; ++q)
        s += a.at(i, q) * b[q * n + j];
      T &out = c[i * n + j];
      out = write == Write::Accumulate ? sc.alpha * s + sc.beta * out : s;
      if (sc.then)
        ChainedUpdate<T>::step(sc.then.w[i * n + j], sc.then.scale, out, sc.then.out[i * n + j]);
    }
}

// One vector of C to memory: streamed (the address is aligned to the
// vector) or a plain unaligned store. Not the streaming store's intrinsic:
// it needs the ISA enabled in every function it is inlined through, and
// these templates are compiled for the baseline.
template <typename Vec, bool stream> [[gnu::always_inline]] inline void put(void *to, const Vec &v) {
  if constexpr (stream) {
#if defined(__clang__) // its generic builtin; it rejects the asm's operand outside the ISA
    __builtin_nontemporal_store(v, static_cast<Vec *>(to));
#else // GCC has no such builtin
    __asm__ volatile("vmovntps %1, %0" : "=m"(*static_cast<Vec *>(to)) : "v"(v));
#endif
  } else
    std::memcpy(to, &v, sizeof(Vec));
}

// Rows [i, i + R) of C, columns [j, j + V * NV): accumulated over all of k in
// registers, then written.
template <typename T, int V, int R, int NV, Write write>
[[gnu::always_inline]] inline void tile(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c,
                                        int64_t i, int64_t j, Scaling<T> sc) {
  typedef T Vec __attribute__((vector_size(V * sizeof(T))));
  Vec acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      acc[r][v] = Vec{};
  auto step = [&](int64_t q) __attribute__((always_inline)) {
    Vec bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v)
      std::memcpy(&bv[v], b + q * n + j + v * V, sizeof(Vec));
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const T s = a.at(i + r, q);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[r][v] += s * bv[v];
    }
  };
  // The lines the tile's end reads (C when accumulating, the chained
  // update's w), requested during the first R steps of k, a row a step, so
  // that they arrive while the multiply-adds run: read at the end from L2,
  // they stalled the Fashion MLP's weight gradient with momentum (k = 64),
  // which took 10-33% longer without this (docs/performance.md).
  int64_t q = 0;
  if (write == Write::Accumulate || sc.then)
    for (; q < std::min<int64_t>(k, R); ++q) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        if constexpr (write == Write::Accumulate)
          __builtin_prefetch(c + (i + q) * n + j + v * V, 1);
        if (sc.then)
          __builtin_prefetch(sc.then.w + (i + q) * n + j + v * V, 1);
      }
      step(q);
    }
  for (; q < k; ++q)
    step(q);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
      T *to = c + (i + r) * n + j + v * V;
      if constexpr (write == Write::Accumulate) {
        Vec old;
        std::memcpy(&old, to, sizeof(Vec));
        acc[r][v] = sc.alpha * acc[r][v] + sc.beta * old;
      }
      put<Vec, write == Write::Stream>(to, acc[r][v]);
    }
  // The chained update from the tile's finished values, still in registers
  // (a loop of its own: with the branch inside the store loop above, the
  // Fashion MLP's weight gradient measured about twice as slow).
  if constexpr (write != Write::Stream)
    if (sc.then) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
          const int64_t at = (i + r) * n + j + v * V;
          Vec w, next;
          std::memcpy(&w, sc.then.w + at, sizeof(Vec));
          ChainedUpdate<T>::step(w, sc.then.scale, acc[r][v], next);
          put<Vec, false>(sc.then.out + at, next);
        }
    }
}

// Rows [i, i + R) of C, the tiles of NV vectors from column j on while they
// fit, written plainly or streamed, with no chained update; returns where
// they end. One call of the ISA's tilesAt per row block rather than one
// per tile: the Jacobian's last product (k = 20, 240 cycles of
// multiply-adds a tile) spent about 15% of one CPU's time on the calls'
// setup (saving registers, the 8 rows' addresses; docs/performance.md).
template <typename T, int V, int R, int NV, Write write>
[[gnu::always_inline]] inline int64_t tileRun(const Lhs<T> &a, const T *b, int64_t n, int64_t k,
                                              T *c, int64_t i, int64_t j) {
  static_assert(write != Write::Accumulate);
  // An empty Scaling known here: the tile's chained-update loop is compiled
  // out, and with it the registers it would hold across the loop.
  for (; j + V * NV <= n; j += V * NV)
    tile<T, V, R, NV, write>(a, b, n, k, c, i, j, Scaling<T>{});
  return j;
}

#if defined(__x86_64__)
// The ISAs: the register tile, the vector, and one tile as a function of
// its own compiled for the ISA. Inlined into the loops over rows and
// columns, the tile shared the registers with those loops' values (row and
// column indices, bounds, the chained update's pointers and scale): GCC kept
// some of them in vector registers and spilled two of B's vectors to the
// stack on every step of k, and the Jacobian's last product ran at half
// the rate the tile reaches alone (docs/performance.md). A call per tile
// costs a few cycles against its R * NV * k vector multiply-adds. The two
// differ in their target attribute, which GCC takes only as a string
// literal on each function, so one template cannot carry both.
struct Avx512 {
  using Shape = Avx512Tile;
  static constexpr int vectorBytes = 64;
  template <typename T, int R, int NV, Write write>
  [[gnu::noinline]] __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) static void
  tileAt(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i, int64_t j,
         const Scaling<T> &sc) {
    tile<T, int(vectorBytes / sizeof(T)), R, NV, write>(a, b, n, k, c, i, j, sc);
  }
  template <typename T, int R, int NV, Write write>
  [[gnu::noinline]] __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) static int64_t
  tilesAt(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i, int64_t j) {
    return tileRun<T, int(vectorBytes / sizeof(T)), R, NV, write>(a, b, n, k, c, i, j);
  }
};
struct Avx2 {
  using Shape = Avx2Tile;
  static constexpr int vectorBytes = 32;
  template <typename T, int R, int NV, Write write>
  [[gnu::noinline]] __attribute__((target("avx2,fma"))) static void
  tileAt(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i, int64_t j,
         const Scaling<T> &sc) {
    tile<T, int(vectorBytes / sizeof(T)), R, NV, write>(a, b, n, k, c, i, j, sc);
  }
  template <typename T, int R, int NV, Write write>
  [[gnu::noinline]] __attribute__((target("avx2,fma"))) static int64_t
  tilesAt(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i, int64_t j) {
    return tileRun<T, int(vectorBytes / sizeof(T)), R, NV, write>(a, b, n, k, c, i, j);
  }
};

// Rows [i, i + R) of C, all columns: [0, head) and the last ones that fill
// no vector one element at a time, the rest in tiles starting at `head`
// (where the rows are aligned to the vector, when streaming).
template <typename T, typename Isa, int R, Write write>
[[gnu::always_inline]] inline void rowBlock(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c,
                                            int64_t i, int64_t head, const Scaling<T> &sc) {
  constexpr int V = int(Isa::vectorBytes / sizeof(T)), NV = Isa::Shape::vecs;
  // Plain or streamed writes of a row of a vector or more: the columns
  // before `head` and after the last whole vector by one plain vector each
  // that overlaps its neighbour (each element of C is computed the same
  // way in any tile, so the columns written twice get the same bits twice),
  // not one element at a time, whose scalar loop rounds differently (no
  // fused multiply-add in the baseline ISA): streamed and plain stores give
  // C the same bits.
  constexpr Write edge = write == Write::Stream ? Write::Plain : write;
  const bool overlap = write != Write::Accumulate && !sc.then && n >= V;
  if (overlap && head > 0)
    Isa::template tileAt<T, R, 1, edge>(a, b, n, k, c, i, 0, sc);
  else
    scalarColumns(a, b, n, k, c, i, i + R, 0, head, write, sc);
  int64_t j = head;
  if constexpr (write != Write::Accumulate)
    if (!sc.then)
      j = Isa::template tilesAt<T, R, NV, write>(a, b, n, k, c, i, j);
  for (; j + V * NV <= n; j += V * NV) // accumulating, or a chained update
    Isa::template tileAt<T, R, NV, write>(a, b, n, k, c, i, j, sc);
  for (; j + V <= n; j += V)
    Isa::template tileAt<T, R, 1, write>(a, b, n, k, c, i, j, sc);
  if (overlap && j < n)
    Isa::template tileAt<T, R, 1, edge>(a, b, n, k, c, i, n - V, sc);
  else
    scalarColumns(a, b, n, k, c, i, i + R, j, n, write, sc);
}

template <typename T, typename Isa, Write write>
[[gnu::always_inline]] inline void rows(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c,
                                        int64_t i0, int64_t i1, int64_t head,
                                        const Scaling<T> &sc) {
  constexpr int R = Isa::Shape::rows;
  int64_t i = i0;
  for (; i + R <= i1; i += R)
    rowBlock<T, Isa, R, write>(a, b, n, k, c, i, head, sc);
  for (; i < i1; ++i)
    rowBlock<T, Isa, 1, write>(a, b, n, k, c, i, head, sc);
  // Streaming stores are weakly ordered: drain them before another thread
  // reads C.
  if constexpr (write == Write::Stream)
    __asm__ volatile("sfence" ::: "memory");
}

template <typename T, Write write>
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) void
rowsAvx512(const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i0, int64_t i1,
           int64_t head, Scaling<T> sc) {
  rows<T, Avx512, write>(a, b, n, k, c, i0, i1, head, sc);
}
template <typename T, Write write>
__attribute__((target("avx2,fma"))) void rowsAvx2(const Lhs<T> &a, const T *b, int64_t n, int64_t k,
                                                  T *c, int64_t i0, int64_t i1, int64_t head,
                                                  Scaling<T> sc) {
  rows<T, Avx2, write>(a, b, n, k, c, i0, i1, head, sc);
}
// The rows on this CPU's tile (simdLevel(): 2 AVX-512, else AVX2).
template <typename T, Write write>
void rowsOnThisCpu(int level, const Lhs<T> &a, const T *b, int64_t n, int64_t k, T *c, int64_t i0,
                   int64_t i1, int64_t head, Scaling<T> sc) {
  level == 2 ? rowsAvx512<T, write>(a, b, n, k, c, i0, i1, head, sc)
             : rowsAvx2<T, write>(a, b, n, k, c, i0, i1, head, sc);
}
#endif

// A cache size as Linux's sysfs writes it ("32768K", "1M", "512"), in
// bytes; 0 for anything else (no digits, more than nine, another unit or
// anything after it).
inline int64_t parseCacheSize(const char *text) {
  int64_t value = 0;
  int digits = 0;
  for (; *text >= '0' && *text <= '9' && digits <= 9; ++text, ++digits)
    value = value * 10 + (*text - '0');
  if (digits == 0 || digits > 9) // none, or past any cache (and int64_t's range in G)
    return 0;
  const int64_t unit = *text == 'K' ? 1 << 10 : *text == 'M' ? 1 << 20 : *text == 'G' ? 1 << 30 : 1;
  if (unit != 1)
    ++text;
  return *text == '\0' || *text == '\n' ? value * unit : 0;
}

// The last-level cache's size in bytes, or 0 when unknown; read once. The
// kernel's view first (sysfs: the highest cache level of CPU 0), then the
// C library's (L3, else L2). On a 2-CPU cloud machine of
// docs/performance.md glibc's sysconf reported 320 MiB where sysfs (and
// lscpu) gave the 32 MiB its two CPUs share (another such machine: 508 MiB
// from sysconf); with that size the Jacobian's 32 MB output never counted
// as large for the cache.
inline int64_t lastLevelCacheBytes() {
  static int64_t bytes = -1; // a benign race: every thread stores the same value
  int64_t b = __atomic_load_n(&bytes, __ATOMIC_RELAXED);
  if (b >= 0)
    return b;
  b = 0;
  int64_t level = 0;
  for (int index = 0; index < 16; ++index) {
    char path[96], text[32];
    auto readLine = [&](const char *file) {
      snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", index, file);
      FILE *f = fopen(path, "r");
      if (!f)
        return false;
      const bool got = fgets(text, sizeof text, f) != nullptr;
      fclose(f);
      return got;
    };
    if (!readLine("level"))
      break;
    const int64_t l = parseCacheSize(text); // a plain number too
    if (l > level && readLine("size"))
      if (const int64_t size = parseCacheSize(text); size > 0)
        level = l, b = size;
  }
  if (b == 0) {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    b = l3 > 0 ? l3 : l2 > 0 ? l2 : 0;
  }
  __atomic_store_n(&bytes, b, __ATOMIC_RELAXED);
  return b;
}

// Whether a plain product's C [m, n] may be streamed: larger than half the
// last-level cache (known), and rows of whole vectors (streamed stores
// must be aligned to the vector, so every row has to start at the same
// offset from one). Half, not all of it: the cache holds the operands and
// other data too, and an output of half its size or more was mostly gone
// from it by the time the op after it read it: on a 32 MiB L3, C written
// and then read by both CPUs took 1.63-1.85 ms streamed against
// 1.78-2.07 plain at 16 MB, and about the same at 8 MB
// (docs/performance.md). Whether streaming pays for the product itself
// differs by machine (the Jacobian's 2000 x 2000 f64 product: 15-25%
// faster on one 2-CPU host, not faster on another), so it is a way the
// caller measures (Blas.h), not a rule.
template <typename T> bool streams(int64_t m, int64_t n) {
  const int64_t cache = lastLevelCacheBytes(), vectorBytes = simdLevel() == 2 ? 64 : 32;
  return simdLevel() >= 1 && cache > 0 && m * n * int64_t(sizeof(T)) > cache / 2 &&
         (n * int64_t(sizeof(T))) % vectorBytes == 0;
}

enum class Stores { Plain, Streaming };

// C [m, n] = op(A) B where applies<T>(false, m, n, k), or with `sc` given,
// C = alpha op(A) B + beta C (C read unless alpha = 1 and beta = 0; beta = 0
// with another alpha reads it too, unlike BLAS) and sc->then's value.
// Streaming stores where asked, the product is plain and C's rows are
// whole vectors (any size: the tests stream small products; the caller
// asks for them where streams<T>(m, n)); the columns from the first vector
// boundary of C's rows on are then streamed. Either way every element gets
// the same bits.
template <typename T>
void gemm(bool transA, int64_t m, int64_t n, int64_t k, const T *a, const T *b, T *c,
          Stores stores = Stores::Plain, const Scaling<T> *sc = nullptr) {
#if defined(__x86_64__)
  const int level = simdLevel();
  const int64_t vectorBytes = level == 2 ? 64 : 32;
  const bool accumulate = sc && (sc->alpha != T(1) || sc->beta != T(0));
  const bool stream = !accumulate && !(sc && sc->then) && stores == Stores::Streaming &&
                      (n * int64_t(sizeof(T))) % vectorBytes == 0;
  const Write write = accumulate ? Write::Accumulate : stream ? Write::Stream : Write::Plain;
  const Scaling<T> scaling = sc ? *sc : Scaling<T>{};
  // Plain stores start at the vector boundary too, where every row starts
  // at the same offset from one and nothing else is written from C: a
  // vector stored across two cache lines writes both. The Jacobian's last
  // product into a buffer 16 bytes past a line (a std::vector's 32 MB):
  // 1.76-1.86 ms with its stores across lines, 1.47-1.66 ms with them
  // aligned (medians, in turns; docs/performance.md).
  const bool alignStores = (n * int64_t(sizeof(T))) % vectorBytes == 0 &&
                           (stream || (write == Write::Plain && !scaling.then));
  const int64_t misalign = int64_t(reinterpret_cast<uintptr_t>(c) % uintptr_t(vectorBytes));
  const int64_t head =
      alignStores ? std::min(n, (vectorBytes - misalign) % vectorBytes / int64_t(sizeof(T))) : 0;
  const Lhs<T> lhs{a, transA ? 1 : k, transA ? m : 1};
  const int64_t tileRows = level == 2 ? Avx512Tile::rows : Avx2Tile::rows;
  const int64_t blocks = (m + tileRows - 1) / tileRows;
  forItems(blocks, [&](int64_t begin, int64_t end) {
    const int64_t i0 = begin * tileRows, i1 = std::min(m, end * tileRows);
    auto run = [&](auto w) {
      rowsOnThisCpu<T, decltype(w)::value>(level, lhs, b, n, k, c, i0, i1, head, scaling);
    };
    switch (write) {
    case Write::Plain:
      return run(std::integral_constant<Write, Write::Plain>{});
    case Write::Stream:
      return run(std::integral_constant<Write, Write::Stream>{});
    case Write::Accumulate:
      return run(std::integral_constant<Write, Write::Accumulate>{});
    }
  });
#else
  (void)transA, (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)stores,
      (void)sc; // applies() is false
#endif
}

// Whether innerPart runs on this CPU (B not transposed; AVX2 + FMA or
// AVX-512). Any k: a part's B panel is read again for each block of rows
// from L2 rather than L1, which the products split over their inner
// dimension (few rows, Blas.h) can afford.
template <typename T> bool partsApply(bool transB) { return !transB && simdLevel() >= 1; }

// C [m, n] = op(A)[:, q0:q1) B[q0:q1, :), or that added to C (accumulate),
// on the calling thread, every element finished in registers and stored
// once: one part of a product split over its inner dimension (Blas.h's
// splitInnerGemm), where BLAS would pack its share of B first. A is [m, k]
// or, transposed, [k, m]; B is [k, n].
template <typename T>
void innerPart(bool transA, int64_t m, int64_t n, int64_t k, int64_t q0, int64_t q1, const T *a,
               const T *b, T *c, bool accumulate) {
#if defined(__x86_64__)
  const Lhs<T> lhs{transA ? a + q0 * m : a + q0, transA ? 1 : k, transA ? m : 1};
  if (accumulate)
    rowsOnThisCpu<T, Write::Accumulate>(simdLevel(), lhs, b + q0 * n, n, q1 - q0, c, 0, m, 0,
                                        Scaling<T>{T(1), T(1), {}});
  else
    rowsOnThisCpu<T, Write::Plain>(simdLevel(), lhs, b + q0 * n, n, q1 - q0, c, 0, m, 0, {});
#else
  (void)transA, (void)m, (void)n, (void)k, (void)q0, (void)q1, (void)a, (void)b, (void)c,
      (void)accumulate; // partsApply() is false
#endif
}

} // namespace chainjit::compiler::jit::kernels::rankk
