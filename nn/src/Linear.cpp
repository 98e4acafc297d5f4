#include "chainjit/nn/Linear.h"

#include "Checks.h"

#include <cmath>

namespace chainjit::nn {

using namespace ir;
using detail::checkLastAxis;
using detail::checkPositive;

static Value linearWeight(Graph &g, const std::string &prefix, int64_t in, int64_t out,
                          DType dtype) {
  checkPositive("nn.Linear", prefix, "in", in);
  checkPositive("nn.Linear", prefix, "out", out);
  return makeParam(g, prefix, "weight", {dtype, {out, in}}, uniformInit(1.0 / std::sqrt(double(in))));
}

Linear::Linear(Graph &g, const std::string &prefix_, int64_t in_, int64_t out_, bool withBias,
               DType dtype, std::optional<Init> biasInit)
    : prefix(prefix_), in(in_), out(out_), weight(linearWeight(g, prefix_, in_, out_, dtype)) {
  if (withBias)
    bias = makeParam(g, prefix_, "bias", {dtype, {out}},
                     biasInit ? *biasInit : uniformInit(1.0 / std::sqrt(double(in))));
}

Value Linear::operator()(Value x) const {
  detail::checkDType("nn.Linear", prefix, x, weight.dtype());
  checkLastAxis("nn.Linear", prefix, x, in);
  Shape s = x.shape();
  Value flat = s.size() == 2 ? x : reshape(x, {-1, in});
  Value y = matmul(flat, transpose(weight));
  if (bias)
    y = y + *bias;
  if (s.size() != 2) {
    s.back() = out;
    y = reshape(y, s);
  }
  return y;
}

LayerNorm::LayerNorm(Graph &g, const std::string &prefix_, int64_t dim_, double eps_,
                     DType dtype)
    : prefix(prefix_), dim(dim_), eps(eps_),
      weight(makeParam(g, prefix_, "weight", {dtype, {dim_}}, onesInit())),
      bias(makeParam(g, prefix_, "bias", {dtype, {dim_}}, zerosInit())) {}

Value LayerNorm::operator()(Value x) const {
  detail::checkDType("nn.LayerNorm", prefix, x, weight.dtype());
  checkLastAxis("nn.LayerNorm", prefix, x, dim);
  return layerNorm(x, weight, bias, -1, eps);
}

} // namespace chainjit::nn
