// The Jacobian chain: dy/dx = F'_q ... F'_2 F'_1 for a chain of segments
// x = v0 -F1-> v1 -F2-> ... -Fq-> vq = y (see ../shared/design/chain-dp.md).
// A factor is described by what it costs to use, not by its entries: the
// optimizer never needs the Jacobians themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::compiler {

// The sparsity class of a factor's Jacobian (or of a product of factors).
// Products of one class stay in it; mixed products are dense (conservative).
// BlockDiagonal: `blocks` equal-sized diagonal blocks (rows of a batch
// processed independently, e.g. a matmul of a [B, n] batch by a weight).
enum class JacobianStructure : uint8_t { Identity, Permutation, Diagonal, BlockDiagonal, Dense };
std::string_view structureName(JacobianStructure s);
// The structure of a product; for block-diagonal factors, their block counts
// (1 otherwise) and, through `blocks`, the product's.
JacobianStructure productStructure(JacobianStructure left, JacobianStructure right,
                                   int64_t leftBlocks = 1, int64_t rightBlocks = 1,
                                   int64_t *blocks = nullptr);

struct ChainFactor {
  int64_t n = 0;             // input size (columns of F')
  int64_t m = 0;             // output size (rows of F')
  double tangentCost = 0;    // t: fused multiply-adds of one tangent sweep
  double adjointCost = 0;    // a: fused multiply-adds of one adjoint sweep
  double tapeBytes = 0;      // e: forward values the adjoint sweep needs
  JacobianStructure structure = JacobianStructure::Dense;
  std::string label;         // e.g. "F1" or the segment's ops, for reports
  int64_t blocks = 1;        // BlockDiagonal: the number of blocks (divides n and m)
  // For memory-limited plans (Recomputation.h): the cost of running the
  // factor forward once (a recomputation), and the bytes of its input, which
  // is what a checkpoint before it stores.
  double forwardCost = 0;
  double inputBytes = 0;
  // Through time (TimeChains.h): a recurrence of T identical steps is one
  // compact factor standing for its T step factors. The costs above are then
  // the totals over the steps; `step` describes one step.
  int64_t steps = 1; // T; 1 for a factor that is not a recurrence
  struct Step {
    int64_t state = 0;      // n_h: the step factor dh_t/dh_(t-1) is n_h x n_h
    int64_t in = 0;         // active values entering each step (x_t slices, shared params)
    int64_t out = 0;        // values each step emits (its y_t)
    double tangentCost = 0; // one step's t, a and e
    double adjointCost = 0;
    double tapeBytes = 0;
    JacobianStructure structure = JacobianStructure::Dense; // of dh_t/dh_(t-1)
    std::string body;       // the step function, for reports
  } step;
};

// Factors in application order: factors.front() is F1 (applied to x first).
// Consecutive factors must agree: factors[l].m == factors[l+1].n.
struct JacobianChain {
  std::vector<ChainFactor> factors;

  size_t size() const { return factors.size(); }
  // Throws chainjit::Error if sizes do not chain or a number is negative.
  void validate() const;
};

// An abstract chain from text: one factor per line, `n m t a [e [f [x]]]`
// (f: forward cost, default t; x: input bytes, default 8 n), first factor
// first, `#` comments and blank lines allowed. A line may end with `xT` (or
// `×T`): T identical steps of a recurrence, whose numbers are per step
// (n == m), kept as one compact factor. Errors carry file:line:col.
JacobianChain parseChainText(std::string_view text, const std::string &filename);
JacobianChain parseChainFile(const std::string &path);

// The classic matrix chain A1 A2 ... Aq with A_i of size dims[i-1] x dims[i]:
// dense factors whose accumulation is free (the matrices are given).
JacobianChain denseMatrixChain(const std::vector<int64_t> &dims);

} // namespace chainjit::compiler
