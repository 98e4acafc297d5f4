#include "chainjit/compiler/BlasThreads.h"

#include "jit/kernels/ParallelItems.h" // onlineCpus: the CPUs the kernel pool uses

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace chainjit::compiler {

namespace kernels = jit::kernels;

namespace {

bool takingOver() {
  const char *e = std::getenv("CHAINJIT_BLAS_THREADS");
  return !(e && std::strcmp(e, "openblas") == 0) && int(kernels::onlineCpus()) > 1;
}

} // namespace

int openBlasThreads() { return openblas_get_num_threads(); }
void setOpenBlasThreads(int threads) { openblas_set_num_threads(threads); }

void takeOverBlasThreads() {
  if (takingOver())
    openblas_set_num_threads(1);
}

const char *blasThreadTimeoutToSet() {
  return takingOver() && !std::getenv("OPENBLAS_THREAD_TIMEOUT") ? "4" : nullptr;
}

std::string blasThreadsText() {
  const int threads = openblas_get_num_threads(), cpus = int(kernels::onlineCpus());
  std::string text = threads == 1 && cpus > 1 ? "OpenBLAS on 1 thread, products split over " +
                                                    std::to_string(cpus) + " CPUs by chainjit"
                                              : "OpenBLAS on " + std::to_string(threads) +
                                                    (threads == 1 ? " thread" : " threads");
  if (const char *timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT"))
    text += std::string(" (OPENBLAS_THREAD_TIMEOUT=") + timeout + ")";
  return text;
}

} // namespace chainjit::compiler
