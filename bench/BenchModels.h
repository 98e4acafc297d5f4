// The benchmarks' models built with ir::Builder: the Jacobian benchmarks'
// chain of tanh layers (bench/jit_jacobian_bench.cpp,
// bench/time_model_bench.cpp), whose Jacobian is a product of one factor per
// layer, and the training benchmarks' MLP (bench/jit_train_step_bench.cpp,
// bench/jit_compile_bench.cpp).
#pragma once

#include "chainjit/ir/Builder.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

namespace benchsupport {

// "2000-20-2000" for widths {2000, 20, 2000}.
inline std::string chainName(const std::vector<int64_t> &w) {
  std::string s;
  for (size_t i = 0; i < w.size(); ++i)
    s += (i ? "-" : "") + std::to_string(w[i]);
  return s;
}

// y = tanh(W_L ... tanh(W_1 x)), W_l : [w_l, w_(l-1)], f64.
inline chainjit::ir::Graph buildChain(const std::vector<int64_t> &w) {
  namespace ir = chainjit::ir;
  ir::Graph g("tanh_chain");
  ir::Value v = ir::input(g, "x", ir::f64({w[0]}));
  for (size_t l = 1; l < w.size(); ++l) {
    ir::Value W = ir::param(g, fmt::format("W{}", l), ir::f64({w[l], w[l - 1]}));
    v = ir::tanh(ir::matmul(W, v));
    if (l + 1 == w.size())
      v = v.named("y");
  }
  ir::output(v);
  return g;
}

// The loss of an f32 MLP of relu layers with widths w (w[0] inputs, the last
// the classes) at this batch: x [batch, w[0]] and labels [batch] in,
// cross-entropy out; W_l glorot-initialized with seed l, b_l zero.
inline chainjit::ir::Graph buildMlp(const std::vector<int64_t> &w, int64_t batch) {
  namespace ir = chainjit::ir;
  ir::Graph g("mlp");
  ir::Value h = ir::input(g, "x", ir::f32({batch, w[0]}));
  ir::Value labels = ir::input(g, "labels", ir::i32({batch}));
  for (size_t l = 1; l < w.size(); ++l) {
    ir::Value W = ir::param(g, fmt::format("W{}", l), ir::f32({w[l - 1], w[l]}),
                            {{"init", std::string("glorot")}, {"seed", int64_t(l)}});
    ir::Value b = ir::param(g, fmt::format("b{}", l), ir::f32({w[l]}));
    h = ir::matmul(h, W) + b;
    if (l + 1 < w.size())
      h = ir::relu(h);
  }
  ir::output(ir::crossEntropy(h, labels).named("loss"));
  return g;
}

} // namespace benchsupport
