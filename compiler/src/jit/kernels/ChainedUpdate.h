// Internal to the GEMM kernels: a second value computed from a product's
// result as it is written, out = w + scale * C, element by element. It is
// momentum's weight step `w - lr * v'` read off the velocity v' that the
// weight gradient's GEMM computes (cj_matmul_acc, LinAlg.cpp; planned by
// chainUpdates in LoweringPlan.cpp): v' is not read back from memory by a
// loop of its own, and the step runs on the threads that wrote each part
// of v' (a split GEMM's parts, the rank-k kernel's rows), from their
// caches. Header-only, libc only: the AOT kernel object carries it.
#pragma once

#include <cstdint>
#include <cstring>

namespace chainjit::compiler::jit::kernels {

template <typename T> struct ChainedUpdate {
  const T *w = nullptr; // null: none
  T *out = nullptr;     // may be w itself (in-place training)
  T scale = 0;          // -lr for `w - lr * v'`

  explicit operator bool() const { return w != nullptr; }

  // The product rounded on its own before the sum, as the unfused loop
  // rounds it. GCC 12 fuses a multiply and an add into one multiply-add in
  // C++ whatever the statements (-ffp-contract=fast): the empty asm makes
  // the product a value in a register first (GCC checks its operand where
  // the call is inlined, into the functions with the vectors' ISA). Clang
  // fuses only within one expression, and is told not to here. V: T or a
  // vector of T (by reference: the vector types' ABI depends on the ISA).
  template <typename V>
  [[gnu::always_inline]] static void step(const V &w, T scale, const V &c, V &out) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    V product = scale * c;
#if defined(__x86_64__) && !defined(__clang__)
    __asm__("" : "+v"(product));
#endif
    out = w + product;
  }

  // Rows [i0, i1), columns [j0, j1) of the [.., n] matrices, from C's
  // finished values: 16 bytes at a time (the baseline ISA's vectors; the
  // asm in step() keeps a scalar loop from being vectorized), then the rest.
  void apply(const T *c, int64_t n, int64_t i0, int64_t i1, int64_t j0, int64_t j1) const {
    typedef T Vec __attribute__((vector_size(16)));
    constexpr int64_t lanes = int64_t(sizeof(Vec) / sizeof(T));
    for (int64_t i = i0; i < i1; ++i) {
      int64_t j = j0;
      for (; j + lanes <= j1; j += lanes) {
        Vec wv, cv, next;
        std::memcpy(&wv, w + i * n + j, sizeof(Vec));
        std::memcpy(&cv, c + i * n + j, sizeof(Vec));
        step(wv, scale, cv, next);
        std::memcpy(out + i * n + j, &next, sizeof(Vec));
      }
      for (; j < j1; ++j)
        step(w[i * n + j], scale, c[i * n + j], out[i * n + j]);
    }
  }
};

} // namespace chainjit::compiler::jit::kernels
