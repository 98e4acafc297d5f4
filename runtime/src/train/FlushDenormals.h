// Flush-to-zero and denormals-are-zero on the calling thread for a scope;
// the control bits are restored when it ends (the exception flags raised
// inside are kept). Training needs it for speed, not accuracy: with
// momentum, the velocity of a weight whose gradient is nonzero for a few
// batches and zero otherwise (a Fashion-MNIST pixel near the border that
// only a few images touch) decays by mu each step into the subnormal range,
// where every multiply takes a microcode assist (on the Xeon of
// docs/performance.md the momentum update of 784x256 weights went from
// ~0.1 ms to ~0.4 ms a step, half the MLP's epoch). Values below 2^-126
// (f32) or 2^-1022 (f64) become 0, as TensorFlow's training does by
// default. The kernels' worker threads take the caller's mode for each call
// they run (ParallelItems.h); OpenBLAS's own threads keep theirs.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace chainjit::runtime::train {

class FlushDenormals {
public:
  explicit FlushDenormals(bool on) {
#if defined(__x86_64__) || defined(__i386__)
    if (on) {
      saved_ = _mm_getcsr();
      _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
      active_ = true;
    }
#elif defined(__aarch64__)
    if (on) {
      __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved_));
      unsigned long flushed = saved_ | (1ul << 24); // FZ
      __asm__ __volatile__("msr fpcr, %0" : : "r"(flushed));
      active_ = true;
    }
#else
    (void)on;
#endif
  }
  ~FlushDenormals() {
#if defined(__x86_64__) || defined(__i386__)
    if (active_) // the saved control bits, the flags raised meanwhile
      _mm_setcsr((saved_ & ~kExceptionFlags) | (_mm_getcsr() & kExceptionFlags));
#elif defined(__aarch64__)
    if (active_) // FPCR holds no flags (FPSR does)
      __asm__ __volatile__("msr fpcr, %0" : : "r"(saved_));
#endif
  }
  FlushDenormals(const FlushDenormals &) = delete;
  FlushDenormals &operator=(const FlushDenormals &) = delete;

private:
#if defined(__x86_64__) || defined(__i386__)
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040,
                            kExceptionFlags = 0x003f;
  unsigned saved_ = 0;
#elif defined(__aarch64__)
  unsigned long saved_ = 0;
#endif
  bool active_ = false;
};

} // namespace chainjit::runtime::train
