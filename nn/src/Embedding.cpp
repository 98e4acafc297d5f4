#include "chainjit/nn/Embedding.h"

#include "Checks.h"

#include "chainjit/ir/Error.h"

#include <cmath>

namespace chainjit::nn {

using namespace ir;

static Value table(Graph &g, const char *layer, const std::string &prefix, int64_t rows,
                   int64_t dim, DType dtype) {
  detail::checkPositive(layer, prefix, "the number of rows", rows);
  detail::checkPositive(layer, prefix, "dim", dim);
  return makeParam(g, prefix, "weight", {dtype, {rows, dim}}, normalInit(1.0));
}

Embedding::Embedding(Graph &g, const std::string &prefix_, int64_t num_, int64_t dim_,
                     DType dtype)
    : prefix(prefix_), num(num_), dim(dim_),
      weight(table(g, "nn.Embedding", prefix_, num_, dim_, dtype)) {}

Value Embedding::operator()(Value ids) const {
  if (ids.dtype() != DType::i32)
    detail::fail("nn.Embedding", prefix, "ids " + ids.type().str() + " should be i32");
  return gather(weight, ids, 0);
}

Tensor sinusoidalTable(int64_t length, int64_t dim, DType dtype) {
  if (length <= 0 || dim <= 0 || dim % 2 != 0)
    throw Error("sinusoidalTable: length must be positive and dim positive and even, got " +
                std::to_string(length) + " and " + std::to_string(dim));
  Tensor t({dtype, {length, dim}});
  for (int64_t p = 0; p < length; ++p)
    for (int64_t i = 0; i < dim / 2; ++i) {
      double angle = double(p) / std::pow(10000.0, double(2 * i) / double(dim));
      t.set(p * dim + 2 * i, std::sin(angle));
      t.set(p * dim + 2 * i + 1, std::cos(angle));
    }
  return t;
}

Value addSinusoidalPositions(Value x) {
  Shape s = x.shape();
  if (s.size() != 3)
    throw Error("addSinusoidalPositions: x " + x.type().str() + " should be [N, T, dim]");
  return x + constant(x.graph(), sinusoidalTable(s[1], s[2], x.dtype()));
}

LearnedPositions::LearnedPositions(Graph &g, const std::string &prefix_, int64_t maxLength_,
                                   int64_t dim_, DType dtype)
    : prefix(prefix_), maxLength(maxLength_), dim(dim_),
      weight(table(g, "nn.LearnedPositions", prefix_, maxLength_, dim_, dtype)) {}

Value LearnedPositions::operator()(Value x) const {
  detail::checkRank("nn.LearnedPositions", prefix, x, 3, "x", "[N, T, dim]");
  detail::checkLastAxis("nn.LearnedPositions", prefix, x, dim, "x");
  int64_t T = x.shape()[1];
  if (T > maxLength)
    detail::fail("nn.LearnedPositions", prefix,
                 "x has " + std::to_string(T) + " positions, the table " +
                     std::to_string(maxLength));
  Value rows = T == maxLength ? weight : slice(weight, {0, 0}, {T, dim});
  return x + rows;
}

} // namespace chainjit::nn
