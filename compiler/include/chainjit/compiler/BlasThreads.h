// Whose threads run a product: OpenBLAS's or chainjit's.
//
// OpenBLAS (the pthreads build) runs a large product on its own threads and
// keeps them spinning for a while after every call. chainjit's kernels
// split their own work (im2col, loops, losses, the rank-k product) over a
// pool of its threads, which then finds the other CPUs taken by a spinning
// OpenBLAS thread; and on the products of a training step with 64 rows,
// OpenBLAS's second thread gained nothing. A program that owns its process
// sets OpenBLAS to one thread instead, and chainjit splits products over its
// pool itself wherever that measures faster (kernels/Blas.h). The library
// never does this on its own: other code in a user's process may call
// OpenBLAS too.
#pragma once

#include <string>

namespace chainjit::compiler {

// For a program's main(), after rerunWithBlasSettings() (BlasCore.h):
// unless $CHAINJIT_BLAS_THREADS=openblas, or the process may run on one CPU
// only (its affinity), sets OpenBLAS to one thread so that chainjit's
// kernel threads split the products.
void takeOverBlasThreads();

// The OPENBLAS_THREAD_TIMEOUT a program taking over the threads runs with,
// or null (the user set one, or there is no taking over). OpenBLAS's
// threads spin after each call for 2^timeout cycles (by default 2^28,
// about 0.1 s) on the CPUs chainjit's threads need. Once taken over, they
// run only the products measured faster on them (milliseconds long, their
// wake-up included in the measurement), so "4", OpenBLAS's least: they
// sleep as soon as they are done.
const char *blasThreadTimeoutToSet();

// OpenBLAS's thread count, and setting it (what takeOverBlasThreads()
// does, for a program that decides for itself, and for tests).
int openBlasThreads();
void setOpenBlasThreads(int threads);

// "OpenBLAS on N threads" or "OpenBLAS on 1 thread, products split over N
// CPUs by chainjit", for --version and the benchmarks' headers.
std::string blasThreadsText();

} // namespace chainjit::compiler
