// OpenBLAS's choice of kernels, mended where it does not know the CPU.
//
// A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels ("core") from the
// CPU's model number when the library loads. A model newer than the build
// (Debian 12's OpenBLAS 0.3.21 on an Emerald Rapids Xeon, model 207) gets
// its generic SSE3 "Prescott" kernels although the CPU has AVX-512: sgemm
// ran at 53 GFLOP/s there instead of 200 (docs/performance.md). OpenBLAS
// reads $OPENBLAS_CORETYPE only while it loads, before main(), so a program
// that wants the right kernels sets the variable and runs itself again.
#pragma once

#include <optional>
#include <set>
#include <string>

namespace chainjit::compiler {

// The OpenBLAS core for a CPU with `features` (LLVM's names: "avx2", "fma",
// "avx512f", "avx512bf16", ...) when OpenBLAS chose `chosen` (as
// openblas_get_corename() spells it) and that core has no AVX2 kernels
// while the CPU has AVX2: "Cooperlake" (AVX-512 with BF16), "SkylakeX"
// (AVX-512 F, CD, BW, DQ, VL) or "Haswell" (AVX2 and FMA). nullopt when
// OpenBLAS's own choice stands (it knew the CPU, or the CPU has no AVX2).
std::optional<std::string> betterBlasCore(const std::string &chosen,
                                          const std::set<std::string> &features);

// betterBlasCore() for this process's OpenBLAS and this CPU.
std::optional<std::string> betterBlasCoreHere();

// For a program's main(): when betterBlasCoreHere() names a core and
// neither $OPENBLAS_CORETYPE (the user's choice) nor
// $CHAINJIT_KEEP_BLAS_CORE=1 is set, sets OPENBLAS_CORETYPE to it (and
// CHAINJIT_BLAS_CORE_MENDED to OpenBLAS's own choice, for blasCoreText())
// and executes the program again with the same arguments (/proc/self/exe).
// Returns only when nothing is to be done or the exec failed (then the
// program runs on OpenBLAS's choice).
void rerunWithBetterBlasCore(char **argv);

// OpenBLAS's build ("OpenBLAS 0.3.21 ... DYNAMIC_ARCH ...") and ", core
// <core>", and when rerunWithBetterBlasCore()
// changed it, "(OpenBLAS chose <core> for this CPU)".
std::string blasCoreText();

} // namespace chainjit::compiler
