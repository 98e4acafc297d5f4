// Recurrent layers over a sequence, as torch.nn.RNN, torch.nn.LSTM and
// torch.nn.GRU: the same equations, gate order, param names and shapes, so a
// PyTorch state_dict maps 1:1. Each layer and direction is one `scan` over
// the time axis (docs/ir.md); the input projection x W_ih^T + b of all steps
// is one matrix product before the scan, so the scan's body holds only the
// recurrent part.
//
//   nn::LSTM lstm(g, "lstm", {.inputSize = 28, .hiddenSize = 128});
//   nn::RecurrentOutput r = lstm(x);          // x [T, N, 28]
//   Value logits = head(r.last);              // r.last: [N, 128]
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Function.h"
#include "chainjit/nn/Params.h"

#include <optional>
#include <string>
#include <vector>

namespace chainjit::nn {

enum class RecurrentKind { RnnTanh, RnnRelu, Lstm, Gru };

struct RecurrentOptions {
  int64_t inputSize = 0, hiddenSize = 0;
  int64_t numLayers = 1;
  bool bidirectional = false;
  bool bias = true;
  // x and outputs as [N, T, ...] instead of [T, N, ...].
  bool batchFirst = false;
  ir::DType dtype = ir::DType::f32;
};

struct RecurrentOutput {
  // The last layer's h at every step, both directions concatenated:
  // [T, N, D*H] ([N, T, D*H] with batchFirst); D = 2 if bidirectional.
  ir::Value outputs;
  // outputs at the last step, [N, D*H] (for a bidirectional layer the
  // reverse half is its state after one step, as outputs[-1] in PyTorch).
  ir::Value last;
  // The final state of every layer and direction, [L*D, N, H] (order l0,
  // l0_reverse, l1, ...), as PyTorch's h_n; c_n likewise for an LSTM.
  ir::Value hn;
  std::optional<ir::Value> cn;
};

// One layer's params for one direction. PyTorch's names, with suffix
// "_l<k>" and "_reverse" for the backward direction:
//   weight_ih_l<k> [G*H, in], weight_hh_l<k> [G*H, H], bias_ih_l<k> [G*H],
//   bias_hh_l<k> [G*H]; G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
// All U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.
struct RecurrentWeights {
  ir::Value weightIh, weightHh;
  std::optional<ir::Value> biasIh, biasHh;
};

class Recurrent {
public:
  Recurrent(ir::Graph &g, const std::string &prefix, RecurrentKind kind,
            const RecurrentOptions &options);

  // x [T, N, inputSize] (or [N, T, inputSize]); h0 (and c0 for an LSTM)
  // [L*D, N, H], zeros when not given.
  RecurrentOutput operator()(ir::Value x, std::optional<ir::Value> h0 = {},
                             std::optional<ir::Value> c0 = {}) const;

  // Gates per step: 1, 4 or 3.
  int64_t gates() const;

  std::string prefix;
  RecurrentKind kind;
  RecurrentOptions options;
  // Layer-major, direction-minor: l0, l0_reverse, l1, l1_reverse, ...
  std::vector<RecurrentWeights> weights;
};

// h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (relu with RnnRelu).
class RNN : public Recurrent {
public:
  RNN(ir::Graph &g, const std::string &prefix, const RecurrentOptions &options,
      bool relu = false)
      : Recurrent(g, prefix, relu ? RecurrentKind::RnnRelu : RecurrentKind::RnnTanh, options) {}
};
// i, f, g, o = σ, σ, tanh, σ (x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);
// c_t = f c_{t-1} + i g; h_t = o tanh(c_t).
class LSTM : public Recurrent {
public:
  LSTM(ir::Graph &g, const std::string &prefix, const RecurrentOptions &options)
      : Recurrent(g, prefix, RecurrentKind::Lstm, options) {}
};
// r = σ(W_ir x + b_ir + W_hr h + b_hr); z = σ(W_iz x + b_iz + W_hz h + b_hz);
// n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h.
class GRU : public Recurrent {
public:
  GRU(ir::Graph &g, const std::string &prefix, const RecurrentOptions &options)
      : Recurrent(g, prefix, RecurrentKind::Gru, options) {}
};

// The body the scans run: (h[, c], p, U[, b]) -> (h'[, c'], h') with
// p = x_t W_ih^T + biases [batch, G*H] (the step's input projection),
// U = W_hh^T [H, G*H], and b = b_hh [G*H] for a GRU with bias (its b_hn sits
// inside r * (...)). Named "<kind>_cell_<dtype>_n<batch>_h<hidden>".
ir::Function recurrentCell(RecurrentKind kind, int64_t batch, int64_t hidden, bool gruBias,
                           ir::DType dtype = ir::DType::f32);

} // namespace chainjit::nn
