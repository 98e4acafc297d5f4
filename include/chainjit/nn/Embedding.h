// Lookup tables: token embeddings (torch.nn.Embedding) and positional
// embeddings, learned or sinusoidal ("Attention Is All You Need").
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/nn/Params.h"

#include <string>

namespace chainjit::nn {

// weight[ids]: ids i32 [...] -> [..., dim] (a gather; an id out of range is
// a run-time error naming it). Param PREFIX.weight [num, dim], N(0, 1) as
// PyTorch's default.
class Embedding {
public:
  Embedding(ir::Graph &g, const std::string &prefix, int64_t num, int64_t dim,
            ir::DType dtype = ir::DType::f32);
  ir::Value operator()(ir::Value ids) const;

  std::string prefix;
  int64_t num, dim;
  ir::Value weight;
};

// The sinusoidal table [length, dim] (dim even): PE[p, 2i] = sin(p / 10000^(2i/dim)),
// PE[p, 2i+1] = cos(p / 10000^(2i/dim)), as a constant of the graph.
ir::Tensor sinusoidalTable(int64_t length, int64_t dim, ir::DType dtype = ir::DType::f32);
// x [N, T, dim] + the sinusoidal table's first T rows (no params).
ir::Value addSinusoidalPositions(ir::Value x);

// x [N, T, dim] + PREFIX.weight[:T]: a learned position table [maxLength,
// dim], N(0, 1) like Embedding. T may be anything up to maxLength.
class LearnedPositions {
public:
  LearnedPositions(ir::Graph &g, const std::string &prefix, int64_t maxLength, int64_t dim,
                   ir::DType dtype = ir::DType::f32);
  ir::Value operator()(ir::Value x) const;

  std::string prefix;
  int64_t maxLength, dim;
  ir::Value weight;
};

} // namespace chainjit::nn
