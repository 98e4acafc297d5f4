#include "chainjit/compiler/BlasThreads.h"

#include <sched.h>

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace chainjit::compiler {

namespace {

int cpusHere() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

} // namespace

int openBlasThreads() { return openblas_get_num_threads(); }
void setOpenBlasThreads(int threads) { openblas_set_num_threads(threads); }

void takeOverBlasThreads() {
  if (const char *e = std::getenv("CHAINJIT_BLAS_THREADS"); e && std::strcmp(e, "openblas") == 0)
    return;
  if (cpusHere() > 1)
    openblas_set_num_threads(1);
}

std::string blasThreadsText() {
  const int threads = openblas_get_num_threads(), cpus = cpusHere();
  if (threads == 1 && cpus > 1)
    return "OpenBLAS on 1 thread, products split over " + std::to_string(cpus) +
           " CPUs by chainjit";
  return "OpenBLAS on " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
}

} // namespace chainjit::compiler
