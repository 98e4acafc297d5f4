// Internal to the library kernels: e^x over an array of floats, 16 or 8 at a
// time through glibc's vector math library (libmvec, the functions GCC's and
// LLVM's vectorizers call for expf), where the CPU has the vectors and the
// program has the library; else with the scalar std::exp. Softmax and
// cross-entropy exponentiate every logit: one scalar expf per element took
// about 10% of a 64-128-10 training step at batch 32 (perf, issue 14).
//
// libmvec's results can differ from the scalar expf's in the last bit (both
// are within a few ulps), so the f32 kernels' values may differ from the
// interpreter's by that much; f64 stays scalar (std::exp), bit for bit.
//
// AOT bundles link libc, libm and OpenBLAS alone (docs/deploy.md): compiled
// for them (CHAINJIT_AOT_KERNELS) the references are weak, null without
// -lmvec, and the scalar loop runs.
#pragma once

#include "SimdLevel.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GLIBC__)
#define CHAINJIT_HAVE_LIBMVEC 1
namespace chainjit::compiler::jit::kernels::vexp {
typedef float Floats16 __attribute__((vector_size(64)));
typedef float Floats8 __attribute__((vector_size(32)));
} // namespace chainjit::compiler::jit::kernels::vexp
#if defined(CHAINJIT_AOT_KERNELS)
#define CHAINJIT_LIBMVEC_REFERENCE __attribute__((weak))
#else
#define CHAINJIT_LIBMVEC_REFERENCE
#endif
// The vector function ABI's names: AVX-512 ('e') and AVX2 ('d'), unmasked,
// 16 and 8 lanes, one vector argument.
extern "C" chainjit::compiler::jit::kernels::vexp::Floats16
    _ZGVeN16v_expf(chainjit::compiler::jit::kernels::vexp::Floats16) CHAINJIT_LIBMVEC_REFERENCE;
extern "C" chainjit::compiler::jit::kernels::vexp::Floats8
    _ZGVdN8v_expf(chainjit::compiler::jit::kernels::vexp::Floats8) CHAINJIT_LIBMVEC_REFERENCE;
#endif

namespace chainjit::compiler::jit::kernels {

namespace vexp {

#if defined(CHAINJIT_HAVE_LIBMVEC)
// GCC notes that a vector return changes the ABI in overArray, a baseline-ISA
// template; it is only ever inlined into the two functions below, which have
// the ISA (their calls pass the vectors in registers).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
// x[0, n) := e^x, whole vectors, then the tail through a zero-padded vector
// (e^0 is harmless).
template <typename Vec, Vec (*Exp)(Vec)>
[[gnu::always_inline]] inline void overArray(float *x, int64_t n) {
  constexpr int64_t lanes = sizeof(Vec) / sizeof(float);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    Vec v;
    std::memcpy(&v, x + i, sizeof v);
    v = Exp(v);
    std::memcpy(x + i, &v, sizeof v);
  }
  if (i < n) {
    Vec v = {};
    std::memcpy(&v, x + i, size_t(n - i) * sizeof(float));
    v = Exp(v);
    std::memcpy(x + i, &v, size_t(n - i) * sizeof(float));
  }
}
__attribute__((target("avx512f"))) inline void avx512(float *x, int64_t n) {
  overArray<Floats16, _ZGVeN16v_expf>(x, n);
}
__attribute__((target("avx2,fma"))) inline void avx2(float *x, int64_t n) {
  overArray<Floats8, _ZGVdN8v_expf>(x, n);
}
#pragma GCC diagnostic pop
// Whether the program has libmvec: always in the chainjit libraries, which
// link it; in an AOT bundle only if its program links -lmvec (one library
// holds both functions).
inline bool haveLibmvec() {
#if defined(CHAINJIT_AOT_KERNELS)
  return _ZGVeN16v_expf != nullptr;
#else
  return true;
#endif
}
#endif

} // namespace vexp

// x[0, n) := e^x.
inline void expInPlace(float *x, int64_t n) {
#if defined(CHAINJIT_HAVE_LIBMVEC)
  const int level = simdLevel();
  if (level == 2 && vexp::haveLibmvec())
    return vexp::avx512(x, n);
  if (level == 1 && vexp::haveLibmvec())
    return vexp::avx2(x, n);
#endif
  for (int64_t i = 0; i < n; ++i)
    x[i] = std::exp(x[i]);
}
inline void expInPlace(double *x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = std::exp(x[i]);
}

} // namespace chainjit::compiler::jit::kernels
