// OpenBLAS's kernels mended where it does not know the CPU
// (chainjit/compiler/BlasCore.h).
#include "chainjit/compiler/BlasCore.h"

#include <doctest/doctest.h>

#include <cstdlib>

using chainjit::compiler::betterBlasCore;

namespace {
const std::set<std::string> kAvx2 = {"sse4.2", "avx", "avx2", "fma"};
const std::set<std::string> kAvx512 = {"avx", "avx2", "fma", "avx512f", "avx512cd",
                                       "avx512bw", "avx512dq", "avx512vl"};
std::set<std::string> with(std::set<std::string> s, const char *f) {
  s.insert(f);
  return s;
}
} // namespace

TEST_CASE("blas core: a generic fallback on an AVX-512 or AVX2 CPU gets that ISA's kernels") {
  // Debian 12's OpenBLAS on an Emerald Rapids Xeon: Prescott, though the
  // CPU has AVX-512 with BF16.
  CHECK(betterBlasCore("Prescott", with(kAvx512, "avx512bf16")) == "Cooperlake");
  CHECK(betterBlasCore("Prescott", kAvx512) == "SkylakeX");
  CHECK(betterBlasCore("Nehalem", kAvx2) == "Haswell");
  CHECK(betterBlasCore("Sandybridge", kAvx2) == "Haswell");
  // AVX-512 without one of the five subsets SkylakeX's kernels use: Haswell.
  std::set<std::string> partial = kAvx512;
  partial.erase("avx512bw");
  CHECK(betterBlasCore("Core2", partial) == "Haswell");
}

TEST_CASE("blas core: OpenBLAS's own choice stands where it knew the CPU or the CPU lacks AVX2") {
  CHECK_FALSE(betterBlasCore("Cooperlake", with(kAvx512, "avx512bf16")));
  CHECK_FALSE(betterBlasCore("SkylakeX", kAvx512));
  CHECK_FALSE(betterBlasCore("Haswell", kAvx512)); // e.g. its choice for a Zen: kept
  CHECK_FALSE(betterBlasCore("Zen", kAvx2));
  CHECK_FALSE(betterBlasCore("Prescott", {"sse4.2", "avx"}));     // no AVX2
  CHECK_FALSE(betterBlasCore("Prescott", {"avx", "avx2"}));       // AVX2 without FMA
  CHECK_FALSE(betterBlasCore("ARMV8", {"neon"}));
}

TEST_CASE("blas core: the text names OpenBLAS's core, and its own choice when it was mended") {
  unsetenv("CHAINJIT_BLAS_CORE_MENDED");
  std::string plain = chainjit::compiler::blasCoreText();
  CHECK(plain.rfind("OpenBLAS ", 0) == 0);
  CHECK(plain.find(" core ") != std::string::npos);
  CHECK(plain.find("chose") == std::string::npos);
  setenv("CHAINJIT_BLAS_CORE_MENDED", "Katmai", 1); // never a core of a machine running this
  CHECK(chainjit::compiler::blasCoreText() == plain + " (OpenBLAS chose Katmai for this CPU)");
  // A rerun that did not change the core (OpenBLAS did not know the name
  // given) says nothing.
  std::string core = plain.substr(plain.rfind(" core ") + 6);
  setenv("CHAINJIT_BLAS_CORE_MENDED", core.c_str(), 1);
  CHECK(chainjit::compiler::blasCoreText() == plain);
  unsetenv("CHAINJIT_BLAS_CORE_MENDED");
}
