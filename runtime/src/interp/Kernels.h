// Internal to the reference interpreter: the kernel signature, the one table
// of kernels indexed by OpKind, and the small index helpers the family files
// share. Each family file (Elementwise.cpp, Shape.cpp, LinAlg.cpp, Reduce.cpp,
// Loss.cpp, NN.cpp) returns its kernels; kernelTable() collects them.
//
// Kernels are plain loops over row-major tensors that compute in double and
// store with Tensor::set (or storeValue), so f32 results are the f64 result
// rounded once. They are the oracle, not the fast path.
#pragma once

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <array>
#include <string>
#include <vector>

namespace chainjit::runtime::interp {

// What a kernel sees: its node (for attributes, result type and messages) and
// the values of its operands.
struct KernelArgs {
  const ir::Node &node;
  ir::NodeId id;
  std::vector<const ir::Tensor *> operands;
  const ir::Graph *graph = nullptr; // the node's graph, for messages that name an operand

  const ir::Tensor &in(size_t i) const { return *operands.at(i); }
  const ir::Attrs &attrs() const { return node.attrs; }
  const ir::TensorType &resultType() const { return node.type; }
  // Throws chainjit::Error naming the node and its op.
  [[noreturn]] void fail(const std::string &message) const;
};

using Kernel = ir::Tensor (*)(const KernelArgs &);

struct KernelEntry {
  ir::OpKind kind;
  Kernel kernel;
};

std::vector<KernelEntry> elementwiseKernels();
std::vector<KernelEntry> shapeKernels();
std::vector<KernelEntry> linalgKernels();
std::vector<KernelEntry> reduceKernels();
std::vector<KernelEntry> lossKernels();
std::vector<KernelEntry> nnKernels();
std::vector<KernelEntry> indexKernels();
std::vector<KernelEntry> sparseKernels();
std::vector<KernelEntry> controlKernels();

// The kernel of every non-source op, indexed by OpKind (source slots are
// null). Built on first use; throws if an op has no kernel or two.
const std::array<Kernel, ir::kNumOpKinds> &kernelTable();

// --- helpers shared by the family files ---

// Stores `v` into element `i`. For i32 the (integral) value wraps around to
// 32 bits, as two's-complement machine arithmetic (and the JIT) does; other
// dtypes go through Tensor::set.
void storeValue(ir::Tensor &t, int64_t i, double v);

// The flat index into a tensor of shape `from` that NumPy broadcasting reads
// for each element of the (broadcast) shape `to`, in row-major order of `to`.
std::vector<int64_t> broadcastIndex(const ir::Shape &from, const ir::Shape &to);

// An axis in [-rank, rank) made non-negative; axes list likewise, sorted and
// an empty list meaning every axis (the verifier has checked the ranges).
int64_t normalizeAxis(int64_t axis, int64_t rank);
std::vector<int64_t> normalizeAxes(const ir::Ints &axes, int64_t rank);

// Product of shape[begin, end).
int64_t extent(const ir::Shape &shape, size_t begin, size_t end);

} // namespace chainjit::runtime::interp
