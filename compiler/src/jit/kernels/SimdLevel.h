// Internal to the library kernels: the widest vectors this CPU runs, read at
// run time, for kernels with one entry point per ISA (DirectConv.h,
// RankKGemm.h). The kernels are compiled for the baseline ISA so that AOT
// bundles run on any x86-64; their wider versions are functions with a
// target attribute, called only where this says the CPU has them.
#pragma once

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace chainjit::compiler::jit::kernels {

#if defined(__x86_64__)
// 2: AVX-512F, 1: AVX2 + FMA, 0: neither (or the OS does not save their
// registers). Read with cpuid and xgetbv rather than __builtin_cpu_supports,
// whose __cpu_model would tie AOT bundles to libgcc.
inline int detectSimdLevel() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
    return 0;
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0x6) != 0x6) // XMM and YMM state
    return 0;
  const bool fma = c & bit_FMA;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return 0;
  if ((b & bit_AVX512F) && (lo & 0xe6) == 0xe6) // and opmask, ZMM state
    return 2;
  return (b & bit_AVX2) && fma ? 1 : 0;
}
inline int simdLevel() { // cpuid traps in some VMs: read it once
  static int level = -1; // a benign race: every thread stores the same value
  int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
  if (l < 0)
    __atomic_store_n(&level, l = detectSimdLevel(), __ATOMIC_RELAXED);
  return l;
}
#else
inline int simdLevel() { return 0; }
#endif

} // namespace chainjit::compiler::jit::kernels
