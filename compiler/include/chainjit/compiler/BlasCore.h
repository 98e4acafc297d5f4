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

// For a program's main(): OpenBLAS reads its settings from the environment
// when it loads, before main(), so a program that wants other settings sets
// them and executes itself again with the same arguments (/proc/self/exe).
// Two settings: OPENBLAS_CORETYPE, to the core betterBlasCoreHere() names,
// unless $OPENBLAS_CORETYPE (the user's choice) or $CHAINJIT_KEEP_BLAS_CORE=1
// is set (then also CHAINJIT_BLAS_CORE_MENDED to OpenBLAS's own choice, for
// blasCoreText()); and OPENBLAS_THREAD_TIMEOUT, as blasThreadTimeoutToSet()
// says (BlasThreads.h). Returns only when nothing is to be done or the exec
// failed (then the program runs on OpenBLAS's settings).
void rerunWithBlasSettings(char **argv);

// OpenBLAS's build ("OpenBLAS 0.3.21 ... DYNAMIC_ARCH ...") and ", core
// <core>", and when rerunWithBlasSettings()
// changed it, "(OpenBLAS chose <core> for this CPU)".
std::string blasCoreText();

} // namespace chainjit::compiler
