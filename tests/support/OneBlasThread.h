// OpenBLAS on one thread for a scope, as the chainjit command sets it: only
// then do products split over the kernels' own threads (Blas.h). Restores
// the previous count after.
#pragma once

#include "chainjit/compiler/BlasThreads.h"

namespace chainjit::testing {

struct OneBlasThread {
  int was = compiler::openBlasThreads();
  OneBlasThread() { compiler::setOpenBlasThreads(1); }
  ~OneBlasThread() { compiler::setOpenBlasThreads(was); }
  OneBlasThread(const OneBlasThread &) = delete;
  OneBlasThread &operator=(const OneBlasThread &) = delete;
};

} // namespace chainjit::testing
