// The target-independent half of the JIT lowering: what each node becomes
// (a fused loop nest, a GEMM, a solve, a library call, nothing at all), where
// every value lives (a caller buffer, the arena, a constant) and when the
// arena can reuse memory. ModuleBuilder turns the plan into LLVM IR; keeping
// the decisions here makes them testable and printable without LLVM.
#pragma once

#include "LibraryKernels.h"
#include "chainjit/compiler/Jit.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler::jit {

// Where a value's elements are.
struct Storage {
  enum Kind { None, Argument, Arena, Constant } kind = None;
  int64_t index = 0; // Argument: buffer index; Arena: byte offset; Constant: const node
};

enum class KernelKind {
  Elementwise, // a loop nest over `node`'s shape computing its fused expression tree
  Reduction,   // sum/mean/max: a loop nest over the input's shape, accumulating
  MatMul,      // cj_matmul (BLAS above the threshold), transposes folded into flags
  Solve,       // cj_solve, the LU factorization shared with a transposed solve
  Library,     // a library kernel call
  Scan,        // one loop over the steps calling the body's own function (ScanLowering.h)
};

struct ScanBody; // ScanLowering.h

struct Kernel {
  KernelKind kind;
  ir::NodeId node;
  // MatMul: the matrices read and whether each is read transposed.
  ir::NodeId lhs = 0, rhs = 0;
  bool transA = false, transB = false;
  // MatMul below the BLAS threshold (one matrix product): generated loops.
  bool generatedLoops = false;
  // MatMul accumulating (cj_matmul_acc): `node` = [scale *] addend +-
  // [scale *] op(lhs) op(rhs), the elementwise node that consumed the
  // product (a training step's update, Planner::fuseAccumulations).
  std::optional<ir::NodeId> addend;
  // A second node the kernel writes (cj_matmul_acc's chained update,
  // momentum's `w - lr * v'` from the velocity v' it computes; its storage
  // is its own, live from this kernel on).
  std::optional<ir::NodeId> chained;
  // The call's operands where they are not the node's own, null for a null
  // pointer: cj_matmul_acc's {lhs, rhs, addend, its scale, the product's}
  // and with a chained update {its base, its scale, the chained node},
  // a convolution with its bias add and relu fused (fuseConvEpilogues).
  std::vector<std::optional<ir::NodeId>> operands;
  // Solve: read A^T through the LU of `lhs`; reuse the factors in scratch.
  bool transposed = false, factorized = false;
  LibraryCall call;       // Library, MatMul and Solve: symbol and params
  int scratchBuffer = -1; // index into LoweringPlan::buffers, or -1
  int body = -1;          // Scan: index into LoweringPlan::bodies
};

// A copy done after every kernel: outputs that are not written in place
// and every param update (written last, so an update may target its param).
struct FinalCopy {
  ir::NodeId from;
  int argument; // destination buffer index
};

// An arena allocation.
struct Buffer {
  int64_t bytes = 0;
  int first = 0, last = 0; // kernel positions where it is live (inclusive)
  int64_t offset = 0;
};

struct LoweringPlan {
  std::vector<ArgumentSpec> arguments;
  std::vector<Kernel> kernels;          // in execution order
  std::vector<FinalCopy> copies;
  std::vector<Storage> storage;         // per node (aliases share their root's)
  std::vector<bool> inlined;            // per node: computed inside its consumer's loop
  std::vector<int> bufferOf;            // per node: arena buffer index or -1
  std::vector<Buffer> buffers;
  int64_t arenaBytes = 0;
  // The lowered bodies of the scan kernels, each with its own plan (whose
  // arena lies inside the scan kernel's scratch buffer).
  std::vector<std::shared_ptr<const ScanBody>> bodies;
  // The number of this graph's node 0 in the failed-node ids of the whole
  // module (0 for the graph compiled; see flatNodes in ScanLowering.h).
  int64_t nodeBase = 0;
};

// Plans `g` (verified, modes expanded). Throws chainjit::Error naming the node
// for an op the JIT cannot lower.
// `nodeBase`: the number of g's node 0 in the module's failed-node ids
// (non-zero for scan bodies).
LoweringPlan planLowering(const ir::Graph &g, const JitOptions &options, int64_t nodeBase = 0);

// A human-readable listing of the plan (kernels, fusion, arena offsets) for
// --emit plan and for tests.
std::string describePlan(const ir::Graph &g, const LoweringPlan &plan);
// Kernel i's line of describePlan (without a scan's body).
std::string describeKernel(const ir::Graph &g, const LoweringPlan &plan, size_t i);

} // namespace chainjit::compiler::jit
