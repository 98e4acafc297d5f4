// Dense layers and layer normalization, as torch.nn.Linear and
// torch.nn.LayerNorm (same param names, shapes and default initialization).
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/nn/Params.h"

#include <optional>
#include <string>

namespace chainjit::nn {

// y = x W^T + b over the last axis: x [..., in] -> y [..., out].
// Params: PREFIX.weight [out, in] and PREFIX.bias [out], both
// U(-1/sqrt(in), 1/sqrt(in)) as PyTorch's default (`biasInit` replaces the
// bias's: MultiheadAttention's out_proj starts with zeros).
class Linear {
public:
  Linear(ir::Graph &g, const std::string &prefix, int64_t in, int64_t out, bool bias = true,
         ir::DType dtype = ir::DType::f32, std::optional<Init> biasInit = {});
  ir::Value operator()(ir::Value x) const;

  std::string prefix;
  int64_t in, out;
  ir::Value weight;
  std::optional<ir::Value> bias;
};

// (x - mean) / sqrt(var + eps) * weight + bias over the last axis of size
// `dim`. Params: PREFIX.weight [dim] (ones) and PREFIX.bias [dim] (zeros).
class LayerNorm {
public:
  LayerNorm(ir::Graph &g, const std::string &prefix, int64_t dim, double eps = 1e-5,
            ir::DType dtype = ir::DType::f32);
  ir::Value operator()(ir::Value x) const;

  std::string prefix;
  int64_t dim;
  double eps;
  ir::Value weight, bias;
};

} // namespace chainjit::nn
