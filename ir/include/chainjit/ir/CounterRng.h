// The counter-based random generator that defines `bernoulli` (and seeds
// param initializers). Stateless: the value for (seed, counter, index) is a
// pure function, so the interpreter, the JIT and any thread agree bit for bit.
// The mixing function is SplitMix64's finalizer applied twice.
#pragma once

#include <cstdint>

namespace chainjit::ir {

constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t counterRandomBits(uint64_t seed, uint64_t counter,
                                     uint64_t index) {
  uint64_t z = mix64(seed + 0x9e3779b97f4a7c15ULL * (counter + 1));
  return mix64(z ^ (index * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL));
}

// Uniform in [0, 1) with 53 random bits.
constexpr double counterUniform(uint64_t seed, uint64_t counter, uint64_t index) {
  return static_cast<double>(counterRandomBits(seed, counter, index) >> 11) *
         0x1.0p-53;
}

} // namespace chainjit::ir
