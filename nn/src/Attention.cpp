#include "chainjit/nn/Attention.h"

#include "Checks.h"

#include <cmath>
#include <limits>

namespace chainjit::nn {

using namespace ir;

static AttentionOptions checked(const std::string &prefix, const AttentionOptions &o) {
  detail::checkPositive("nn.MultiheadAttention", prefix, "embedDim", o.embedDim);
  detail::checkPositive("nn.MultiheadAttention", prefix, "numHeads", o.numHeads);
  if (o.embedDim % o.numHeads != 0)
    detail::fail("nn.MultiheadAttention", prefix,
                 "embedDim " + std::to_string(o.embedDim) + " is not divisible by numHeads " +
                     std::to_string(o.numHeads));
  if (!(o.dropout >= 0.0 && o.dropout < 1.0))
    detail::fail("nn.MultiheadAttention", prefix,
                 "dropout must be in [0, 1), got " + std::to_string(o.dropout));
  return o;
}

MultiheadAttention::MultiheadAttention(Graph &g, const std::string &prefix_,
                                       const AttentionOptions &options_)
    : prefix(prefix_), options(checked(prefix_, options_)),
      inProjWeight(makeParam(g, prefix_, "in_proj_weight",
                             {options_.dtype, {3 * options_.embedDim, options_.embedDim}},
                             glorotInit())),
      outProj(g, joinName(prefix_, "out_proj"), options_.embedDim, options_.embedDim,
              options_.bias, options_.dtype, zerosInit()) {
  if (options.bias) {
    inProjBias = makeParam(g, prefix, "in_proj_bias", {options.dtype, {3 * options.embedDim}},
                           zerosInit());
  }
}

static Value dropoutIf(Value x, double rate, const std::optional<Value> &step, int64_t seed,
                       const char *layer, const std::string &prefix) {
  if (rate == 0.0)
    return x;
  if (!step)
    detail::fail(layer, prefix, "dropout needs the training step (an i32 scalar)");
  return dropout(x, *step, rate, seed);
}

Value MultiheadAttention::operator()(Value x, bool causal, std::optional<Value> step) const {
  const char *layer = "nn.MultiheadAttention";
  detail::checkRank(layer, prefix, x, 3, "input", "[N, T, E]");
  detail::checkDType(layer, prefix, x, options.dtype);
  detail::checkLastAxis(layer, prefix, x, options.embedDim);
  const int64_t N = x.shape()[0], T = x.shape()[1], E = options.embedDim;
  const int64_t h = options.numHeads, d = E / h;
  Value qkv = matmul(reshape(x, {N * T, E}), transpose(inProjWeight));
  if (inProjBias)
    qkv = qkv + *inProjBias;
  // [N*T, 3E] -> 3 x [N, h, T, d]
  auto head = [&](int64_t k) {
    Value part = slice(qkv, {0, k * E}, {N * T, (k + 1) * E});
    return transpose(reshape(part, {N, T, h, d}), {0, 2, 1, 3});
  };
  Value q = head(0), k = head(1), v = head(2);
  Value scores = matmul(q, transpose(k, {0, 1, 3, 2})) * (1.0 / std::sqrt(double(d)));
  if (causal) {
    Graph &g = x.graph();
    Value minusInf = scalar(g, -std::numeric_limits<double>::infinity(), options.dtype);
    scores = where(causalMask(g, T), scores, minusInf);
  }
  Value weights = softmax(scores, -1);
  weights = dropoutIf(weights, options.dropout, step, options.seed, layer, prefix);
  Value heads = transpose(matmul(weights, v), {0, 2, 1, 3}); // [N, T, h, d]
  return outProj(reshape(heads, {N, T, E}));
}

static EncoderLayerOptions checked(const std::string &prefix, const EncoderLayerOptions &o) {
  detail::checkPositive("nn.TransformerEncoderLayer", prefix, "feedforwardDim", o.feedforwardDim);
  return o;
}

static AttentionOptions attentionOf(const EncoderLayerOptions &o) {
  return {o.embedDim, o.numHeads, true, o.dropout, o.seed, o.dtype};
}

TransformerEncoderLayer::TransformerEncoderLayer(Graph &g, const std::string &prefix_,
                                                 const EncoderLayerOptions &options_)
    : prefix(prefix_), options(checked(prefix_, options_)),
      selfAttn(g, joinName(prefix_, "self_attn"), attentionOf(options_)),
      linear1(g, joinName(prefix_, "linear1"), options_.embedDim, options_.feedforwardDim, true,
              options_.dtype),
      linear2(g, joinName(prefix_, "linear2"), options_.feedforwardDim, options_.embedDim, true,
              options_.dtype),
      norm1(g, joinName(prefix_, "norm1"), options_.embedDim, options_.eps, options_.dtype),
      norm2(g, joinName(prefix_, "norm2"), options_.embedDim, options_.eps, options_.dtype) {}

Value TransformerEncoderLayer::operator()(Value x, bool causal, std::optional<Value> step) const {
  const char *layer = "nn.TransformerEncoderLayer";
  const double rate = options.dropout;
  // Each dropout site has its own seed, so their masks differ.
  Value a = selfAttn(norm1(x), causal, step);
  x = x + dropoutIf(a, rate, step, options.seed + 1, layer, prefix);
  Value f = gelu(linear1(norm2(x)), options.tanhGelu);
  f = linear2(dropoutIf(f, rate, step, options.seed + 2, layer, prefix));
  return x + dropoutIf(f, rate, step, options.seed + 3, layer, prefix);
}

} // namespace chainjit::nn
