// Griewank's binomial optimum for reversing a chain of equal steps under a
// checkpoint budget (revolve), and the chain of equal factors that puts the
// planner in revolve's model: the reference of the recomputation tests.
#pragma once

#include "chainjit/compiler/JacobianChain.h"

#include <cstdint>

namespace chainjit::testing {

// beta(s, r) = (s + r)! / (s! r!), with beta(s, -1) = 0.
inline int64_t beta(int64_t s, int64_t r) {
  if (r < 0)
    return 0;
  int64_t b = 1;
  for (int64_t i = 1; i <= r; ++i)
    b = b * (s + i) / i; // exact: b * (s + i) is divisible by i here
  return b;
}

// Griewank & Walther, Evaluating Derivatives, Prop. 12.4 (revolve): the
// fewest forward steps (advances) to reverse l steps with s checkpoint slots
// (the initial state occupies one): t(l, s) = r l - beta(s + 1, r - 1),
// where r is the least integer with beta(s, r) >= l.
inline int64_t revolveSteps(int64_t l, int64_t s) {
  int64_t r = 0;
  while (beta(s, r) < l)
    ++r;
  return r * l - beta(s + 1, r - 1);
}

// A chain of l equal steps for revolve: forward cost 1, a checkpoint of 1
// byte, and a tape of s bytes, so that with (s - 1) + s bytes only one tape
// fits at a time next to s - 1 checkpoints (the input is free: slot one).
inline compiler::JacobianChain uniformChain(int l, int s) {
  compiler::JacobianChain c;
  for (int i = 0; i < l; ++i) {
    compiler::ChainFactor f;
    f.n = 4;
    f.m = i + 1 == l ? 1 : 4; // a gradient: one row to pull back
    f.tangentCost = f.adjointCost = f.forwardCost = 1;
    f.inputBytes = 1;
    f.tapeBytes = s;
    c.factors.push_back(f);
  }
  return c;
}

} // namespace chainjit::testing
