// How the layers of chainjit::nn name and initialize their params.
//
// A layer built with prefix "lstm" names its params "lstm.weight_ih_l0",
// "lstm.bias_hh_l0", ... (PyTorch's state_dict names), so weights move 1:1
// between the two. Each param carries the `init` attributes the runtime
// reads (docs/builder.md): the family of PyTorch's default for that layer.
#pragma once

#include "chainjit/ir/Builder.h"

#include <string>

namespace chainjit::nn {

// An initializer: a family of the runtime ("zeros", "ones", "uniform",
// "normal", "glorot", "he") and its scale (the half-width of "uniform", the
// standard deviation of "normal", a factor for "glorot" and "he").
struct Init {
  std::string family = "zeros";
  double scale = 1.0;
};

inline Init zerosInit() { return {"zeros", 1.0}; }
inline Init onesInit() { return {"ones", 1.0}; }
// U(-bound, bound): PyTorch's Linear, RNN, LSTM and GRU defaults.
inline Init uniformInit(double bound) { return {"uniform", bound}; }
// N(0, stddev^2): PyTorch's Embedding default (stddev 1).
inline Init normalInit(double stddev) { return {"normal", stddev}; }
// Glorot (Xavier) uniform: MultiheadAttention's in_proj_weight, GCN weights.
inline Init glorotInit() { return {"glorot", 1.0}; }

// "prefix.leaf", or "leaf" alone for an empty prefix.
std::string joinName(const std::string &prefix, const std::string &leaf);

// A param named joinName(prefix, leaf) of `type`, initialized by `init`.
// Throws chainjit::Error (from the graph) if the name is taken.
ir::Value makeParam(ir::Graph &g, const std::string &prefix, const std::string &leaf,
                    ir::TensorType type, const Init &init);

} // namespace chainjit::nn
