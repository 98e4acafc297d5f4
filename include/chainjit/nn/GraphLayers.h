// Graph neural network layers: the graph convolution of Kipf and Welling
// (a sparse product with the normalized adjacency) and GraphSAGE's mean
// aggregation (segment sums over the edges). Node features are [nodes, F].
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/nn/Linear.h"
#include "chainjit/nn/Params.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chainjit::nn {

// A directed edge source -> target: the target aggregates the source.
using Edge = std::pair<int64_t, int64_t>;

// A sparse matrix in CSR form as host tensors (bind them as inputs, or make
// them constants with constantCsr).
struct CsrTensors {
  ir::Tensor rowPtr; // i32 [rows + 1]
  ir::Tensor colIdx; // i32 [nnz]
  ir::Tensor values; // float [nnz]
  int64_t rows = 0, cols = 0;
};

// Â = D^-1/2 (A + I) D^-1/2 as CSR [numNodes, numNodes]: A[t, s] = 1 for
// each edge s -> t (and t -> s too when `undirected`), duplicates counted
// once, every self-loop weight 1; D the row sums of A + I (in-degree + 1).
// Row t holds t's in-neighbours, so Â·X aggregates them (PyG's gcn_norm).
// Throws chainjit::Error for a node id outside [0, numNodes) (naming the
// edge) or a graph too large for i32 indices.
CsrTensors gcnNormalizedAdjacency(int64_t numNodes, const std::vector<Edge> &edges,
                                  bool undirected = true, ir::DType dtype = ir::DType::f32);

// The three tensors as constants %NAME.row_ptr, %NAME.col_idx, %NAME.values.
ir::CsrMatrix constantCsr(ir::Graph &g, const CsrTensors &m, const std::string &name);

// H' = Â (H W) + b: x [nodes, in] -> [nodes, out]. Params PREFIX.weight
// [in, out] (Glorot uniform, as Kipf and Welling) and PREFIX.bias [out]
// (zeros).
class GraphConv {
public:
  GraphConv(ir::Graph &g, const std::string &prefix, int64_t in, int64_t out, bool bias = true,
            ir::DType dtype = ir::DType::f32);
  ir::Value operator()(const ir::CsrMatrix &adjacency, ir::Value x) const;

  std::string prefix;
  int64_t in, out;
  ir::Value weight;
  std::optional<ir::Value> bias;
};

// The mean of x over each node's in-neighbours: out[t] = mean of x[s] over
// the edges s -> t (zeros for a node without any). sources and targets are
// i32 [E]; x [nodes, F] -> [nodes, F].
ir::Value meanAggregate(ir::Value x, ir::Value sources, ir::Value targets);

// GraphSAGE with mean aggregation (PyG's SAGEConv):
//   out[t] = lin_l(mean_{s -> t} x[s]) + lin_r(x[t])
// Params PREFIX.lin_l.weight [out, in], PREFIX.lin_l.bias [out],
// PREFIX.lin_r.weight [out, in] (Linear's default init).
class SageConv {
public:
  SageConv(ir::Graph &g, const std::string &prefix, int64_t in, int64_t out,
           ir::DType dtype = ir::DType::f32);
  ir::Value operator()(ir::Value x, ir::Value sources, ir::Value targets) const;

  std::string prefix;
  Linear linL, linR;
};

} // namespace chainjit::nn
