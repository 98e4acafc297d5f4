#include "chainjit/compiler/BlasCore.h"
#include "chainjit/compiler/BlasThreads.h"

#include <cblas.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/TargetParser/Host.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <sys/auxv.h>
#include <unistd.h>

namespace chainjit::compiler {

namespace {

// OpenBLAS's x86 cores without AVX2 kernels (driver/others/dynamic.c):
// where OpenBLAS falls back for a CPU it does not know.
const std::set<std::string> kPreAvx2Cores = {
    "Katmai",  "Coppermine", "Northwood", "Prescott", "Banias",   "Atom",
    "Core2",   "Penryn",     "Dunnington", "Nehalem", "Opteron",  "Opteron(SSE3)",
    "Barcelona", "Nano",     "Sandybridge", "Bobcat", "Bulldozer", "Piledriver",
    "Steamroller", "Excavator", "Unknown"};

bool hasAll(const std::set<std::string> &features, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (!features.count(n))
      return false;
  return true;
}

} // namespace

std::optional<std::string> betterBlasCore(const std::string &chosen,
                                          const std::set<std::string> &features) {
  if (!kPreAvx2Cores.count(chosen) || !hasAll(features, {"avx2", "fma"}))
    return std::nullopt;
  if (hasAll(features, {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}))
    return features.count("avx512bf16") ? "Cooperlake" : "SkylakeX";
  return "Haswell";
}

std::optional<std::string> betterBlasCoreHere() {
  std::set<std::string> features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    if (f.second)
      features.insert(f.first().str());
  return betterBlasCore(openblas_get_corename(), features);
}

namespace {

// Whether OpenBLAS's kernels should be mended: OpenBLAS chose a core with
// no AVX2 kernels on a CPU that has them (the core to take), unless the
// user chose ($OPENBLAS_CORETYPE, $CHAINJIT_KEEP_BLAS_CORE=1) or the build
// has no other kernels (only a DYNAMIC_ARCH build reads the variable).
std::optional<std::string> coreToMend() {
  if (std::getenv("OPENBLAS_CORETYPE"))
    return std::nullopt; // the user's choice, or ours already
  const char *keep = std::getenv("CHAINJIT_KEEP_BLAS_CORE");
  if (keep && std::strcmp(keep, "1") == 0)
    return std::nullopt;
  if (!std::strstr(openblas_get_config(), "DYNAMIC_ARCH"))
    return std::nullopt;
  return betterBlasCoreHere();
}

} // namespace

void rerunWithBlasSettings(char **argv) {
  const std::optional<std::string> core = coreToMend();
  const char *timeout = blasThreadTimeoutToSet();
  if (!core && !timeout)
    return;
  // /proc/self/exe is this program unless it was started through the
  // dynamic loader (ld.so ./chainjit ...), where rerunning it would read
  // the arguments wrongly.
  const char *started = reinterpret_cast<const char *>(getauxval(AT_EXECFN));
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (!started || n <= 0)
    return;
  self[n] = '\0';
  char startedReal[4096];
  if (!realpath(started, startedReal) || std::strcmp(startedReal, self) != 0)
    return;
  if (core) {
    setenv("CHAINJIT_BLAS_CORE_MENDED", openblas_get_corename(), 1);
    setenv("OPENBLAS_CORETYPE", core->c_str(), 1);
  }
  if (timeout)
    setenv("OPENBLAS_THREAD_TIMEOUT", timeout, 1);
  execv(self, argv);
  // The exec failed: run on OpenBLAS's settings, as if nothing happened.
  if (core) {
    unsetenv("CHAINJIT_BLAS_CORE_MENDED");
    unsetenv("OPENBLAS_CORETYPE");
  }
  if (timeout)
    unsetenv("OPENBLAS_THREAD_TIMEOUT");
}

std::string blasCoreText() {
  std::string core = openblas_get_corename();
  std::string text = std::string(openblas_get_config()) + ", core " + core;
  // Said only when the rerun took: OpenBLAS may not know the core named.
  if (const char *was = std::getenv("CHAINJIT_BLAS_CORE_MENDED"); was && *was && core != was)
    text += std::string(" (OpenBLAS chose ") + was + " for this CPU)";
  return text;
}

} // namespace chainjit::compiler
