#include "chainjit/nn/GraphLayers.h"

#include "Checks.h"

#include "chainjit/ir/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chainjit::nn {

using namespace ir;

CsrTensors gcnNormalizedAdjacency(int64_t numNodes, const std::vector<Edge> &edges,
                                  bool undirected, DType dtype) {
  constexpr int64_t kMaxI32 = std::numeric_limits<int32_t>::max();
  if (numNodes <= 0 || numNodes >= kMaxI32)
    throw Error("gcnNormalizedAdjacency: the number of nodes must be in [1, 2^31 - 1), got " +
                std::to_string(numNodes));
  if (!isFloat(dtype))
    throw Error("gcnNormalizedAdjacency: values must be a float dtype");
  // Each (target, source) pair, the self-loops included, sorted and unique.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  size_t copies = undirected ? 2 : 1;
  if (edges.size() > (size_t(kMaxI32) - size_t(numNodes)) / copies)
    throw Error("gcnNormalizedAdjacency: " + std::to_string(edges.size()) +
                " edges are too many for i32 indices");
  pairs.reserve(edges.size() * copies + size_t(numNodes));
  for (size_t e = 0; e < edges.size(); ++e) {
    auto [s, t] = edges[e];
    if (s < 0 || s >= numNodes || t < 0 || t >= numNodes)
      throw Error("gcnNormalizedAdjacency: edge " + std::to_string(e) + " (" + std::to_string(s) +
                  " -> " + std::to_string(t) + ") names a node outside [0, " +
                  std::to_string(numNodes) + ")");
    pairs.push_back({t, s});
    if (undirected)
      pairs.push_back({s, t});
  }
  for (int64_t i = 0; i < numNodes; ++i)
    pairs.push_back({i, i});
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());

  const int64_t nnz = int64_t(pairs.size());
  std::vector<double> degree(size_t(numNodes), 0.0);
  for (const auto &[t, s] : pairs)
    degree[size_t(t)] += 1.0;
  CsrTensors m{Tensor({DType::i32, {numNodes + 1}}), Tensor({DType::i32, {nnz}}),
               Tensor({dtype, {nnz}}), numNodes, numNodes};
  for (int64_t e = 0; e < nnz; ++e) {
    auto [t, s] = pairs[size_t(e)];
    m.colIdx.set(e, double(s));
    m.values.set(e, 1.0 / std::sqrt(degree[size_t(t)] * degree[size_t(s)]));
    m.rowPtr.set(t + 1, m.rowPtr.at(t + 1) + 1);
  }
  for (int64_t i = 0; i < numNodes; ++i)
    m.rowPtr.set(i + 1, m.rowPtr.at(i + 1) + m.rowPtr.at(i));
  return m;
}

CsrMatrix constantCsr(Graph &g, const CsrTensors &m, const std::string &name) {
  return {constant(g, m.rowPtr, name + ".row_ptr"), constant(g, m.colIdx, name + ".col_idx"),
          constant(g, m.values, name + ".values"), m.cols};
}

GraphConv::GraphConv(Graph &g, const std::string &prefix_, int64_t in_, int64_t out_,
                     bool withBias, DType dtype)
    : prefix(prefix_), in(in_), out(out_),
      weight((detail::checkPositive("nn.GraphConv", prefix_, "in", in_),
              detail::checkPositive("nn.GraphConv", prefix_, "out", out_),
              makeParam(g, prefix_, "weight", {dtype, {in_, out_}}, glorotInit()))) {
  if (withBias)
    bias = makeParam(g, prefix, "bias", {dtype, {out}}, zerosInit());
}

Value GraphConv::operator()(const CsrMatrix &adjacency, Value x) const {
  const char *layer = "nn.GraphConv";
  detail::checkRank(layer, prefix, x, 2, "x", "[nodes, in]");
  detail::checkDType(layer, prefix, x, weight.dtype());
  detail::checkLastAxis(layer, prefix, x, in, "x");
  if (adjacency.cols != x.shape()[0])
    detail::fail(layer, prefix,
                 "the adjacency has " + std::to_string(adjacency.cols) + " columns but x " +
                     x.type().str() + " has " + std::to_string(x.shape()[0]) + " nodes");
  // Â (X W): the product with W first keeps the sparse product at `out`
  // columns, which is never more work when out <= in.
  Value y = in >= out ? spmm(adjacency, matmul(x, weight)) : matmul(spmm(adjacency, x), weight);
  return bias ? y + *bias : y;
}

Value meanAggregate(Value x, Value sources, Value targets) {
  if (x.shape().size() != 2)
    throw Error("meanAggregate: x " + x.type().str() + " should be [nodes, F]");
  if (sources.dtype() != DType::i32 || targets.dtype() != DType::i32 ||
      sources.shape().size() != 1 || sources.shape() != targets.shape())
    throw Error("meanAggregate: sources " + sources.type().str() + " and targets " +
                targets.type().str() + " should be i32 [E] of one length");
  const int64_t nodes = x.shape()[0], E = sources.shape()[0];
  Graph &g = x.graph();
  Value summed = segmentSum(gather(x, sources, 0), targets, nodes);
  Value ones = constant(g, Tensor::filled({x.dtype(), {E, 1}}, 1.0));
  Value count = segmentSum(ones, targets, nodes); // in-degrees [nodes, 1]
  return summed / maximum(count, scalar(g, 1.0, x.dtype()));
}

SageConv::SageConv(Graph &g, const std::string &prefix_, int64_t in, int64_t out, DType dtype)
    : prefix(prefix_), linL(g, joinName(prefix_, "lin_l"), in, out, true, dtype),
      linR(g, joinName(prefix_, "lin_r"), in, out, false, dtype) {}

Value SageConv::operator()(Value x, Value sources, Value targets) const {
  detail::checkRank("nn.SageConv", prefix, x, 2, "x", "[nodes, in]");
  return linL(meanAggregate(x, sources, targets)) + linR(x);
}

} // namespace chainjit::nn
