// Multi-head self-attention and the pre-norm Transformer encoder block, as
// torch.nn.MultiheadAttention and torch.nn.TransformerEncoderLayer(
// norm_first=True, activation="gelu", batch_first=True): same equations,
// param names and shapes. Sequences are batch-first, x [N, T, E].
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/nn/Linear.h"
#include "chainjit/nn/Params.h"

#include <optional>
#include <string>

namespace chainjit::nn {

struct AttentionOptions {
  int64_t embedDim = 0, numHeads = 1;
  bool bias = true;
  // Dropout on the attention weights (training only; graphs with dropout
  // are expanded for a mode before they run, see docs/builder.md).
  double dropout = 0.0;
  int64_t seed = 0; // of the dropout masks
  ir::DType dtype = ir::DType::f32;
};

// softmax(Q K^T / sqrt(d) [+ causal mask]) V per head, heads concatenated,
// then the output projection. Q, K, V = x W_q^T + b_q, ... from one packed
// projection. Params: PREFIX.in_proj_weight [3E, E] (Glorot uniform),
// PREFIX.in_proj_bias [3E] (zeros), PREFIX.out_proj.weight [E, E]
// (U(±1/sqrt(E))), PREFIX.out_proj.bias [E] (zeros).
class MultiheadAttention {
public:
  MultiheadAttention(ir::Graph &g, const std::string &prefix, const AttentionOptions &options);
  // x [N, T, E] -> [N, T, E]. With `causal`, position t attends to
  // positions <= t only. `step` (an i32 scalar, the training step) keys the
  // dropout masks and is needed when options.dropout > 0.
  ir::Value operator()(ir::Value x, bool causal = false,
                       std::optional<ir::Value> step = {}) const;

  std::string prefix;
  AttentionOptions options;
  ir::Value inProjWeight;
  std::optional<ir::Value> inProjBias;
  Linear outProj;
};

struct EncoderLayerOptions {
  int64_t embedDim = 0, numHeads = 1, feedforwardDim = 0;
  double dropout = 0.0;
  double eps = 1e-5; // of both layer norms
  bool tanhGelu = false; // gelu's tanh approximation instead of the exact one
  int64_t seed = 0;
  ir::DType dtype = ir::DType::f32;
};

// The pre-norm block:
//   x = x + Dropout(SelfAttention(LayerNorm1(x)))
//   x = x + Dropout(Linear2(Dropout(GELU(Linear1(LayerNorm2(x))))))
// Params: PREFIX.self_attn.*, PREFIX.linear1.{weight,bias} [F, E], [F],
// PREFIX.linear2.{weight,bias} [E, F], [E], PREFIX.norm1.{weight,bias},
// PREFIX.norm2.{weight,bias} [E].
class TransformerEncoderLayer {
public:
  TransformerEncoderLayer(ir::Graph &g, const std::string &prefix,
                          const EncoderLayerOptions &options);
  ir::Value operator()(ir::Value x, bool causal = false,
                       std::optional<ir::Value> step = {}) const;

  std::string prefix;
  EncoderLayerOptions options;
  MultiheadAttention selfAttn;
  Linear linear1, linear2;
  LayerNorm norm1, norm2;
};

} // namespace chainjit::nn
