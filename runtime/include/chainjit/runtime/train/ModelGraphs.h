// The graphs a training run derives from one model file: the model at
// another batch size, with another dropout rate, and the training-step and
// evaluation graphs the Trainer runs.
//
// A model is a graph whose first output is a scalar loss over its inputs:
// data inputs (features, a target of any dtype and shape or none, other
// named inputs), optionally an i32[] input counting training steps (the
// dropout counter), and optionally a prediction output for the metric.
// examples/mlp.cj and examples/digits_*.cj are such models.
#pragma once

#include "chainjit/ir/Graph.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime::train {

// What a model's target is, and so which metric fits it (docs/training.md).
enum class TargetKind {
  Classes,    // i32 [N] class labels: accuracy (from a prediction output)
  Regression, // float targets [N] or [N, k, ...]: mean squared error
  Sequence,   // i32 [N, T, ...] labels: per-token loss and perplexity
  None,       // no target: the loss reads only the inputs (an autoencoder)
};
std::string_view targetKindName(TargetKind k); // "class labels", ...

// The roles of a model's values. Found by inspectModel().
struct ModelSignature {
  std::string features;   // the first float input with a batch dimension first
                          // (the first input with one if no float input has)
  std::string labels;     // the target input, any dtype and shape; "" for none
  TargetKind target = TargetKind::Classes;
  std::string tokenMask;  // Sequence: an input of the labels' shape weighing each
                          // token (0 for padding); "" if none
  std::vector<std::string> inputs; // every data input in graph order (not the counter)
  std::string counter;    // the i32[] input fed the step number; "" if none
  std::string loss;       // the first output, a float scalar
  bool lossIsMse = false; // the loss is an mse op (so its value is the mse)
  std::string prediction; // Classes: an output i32 [N] or float [N, C];
                          // Regression: a float output of the target's shape; "" if none
  bool predictionIsClass = false; // i32 [N] (else: scores, argmax taken)
  int64_t batch = 0;      // N as written in the model file
  int64_t classes = 0;    // C of the cross_entropy (or one_hot) that reads the labels; 0 if none
  std::vector<std::string> trainable; // trainable params, in graph order
  std::vector<std::string> state;     // params that are not trainable
};

struct InspectOptions {
  // The target input by name; "" for none (the loss reads only the inputs);
  // nullopt: found by how the loss reads it (below).
  std::optional<std::string> target;
  // The task, and so the metric, instead of the one the target's type says
  // (`train --metric`): Classes (accuracy) needs an i32 [N] target,
  // Regression (mse) a float one, Sequence (perplexity) an i32 one; None
  // reports the loss alone. nullopt: from the target's type.
  std::optional<TargetKind> task;
};

// Finds the roles by type: the first float input of rank >= 1 is the
// features (N its first dimension), an i32[] input the counter, every other
// input of rank >= 1 a data input. The target is the input a cross_entropy
// or mse compares with or a one_hot encodes (seen through reshapes and
// casts), else the i32 input whose first dimension is N, else none; its
// dtype and rank give the TargetKind. The prediction is the first other
// output that fits the target. Throws chainjit::Error naming the graph and
// what is missing or ambiguous.
ModelSignature inspectModel(const ir::Graph &model, const InspectOptions &options = {});

// The model with batch size `batch`: every input whose first dimension is
// the model's batch gets `batch` instead, and the ops are rebuilt so their
// types follow, the functions that scans run included (runtime/src/train/
// BatchSize.cpp). Which axes hold the batch is found from how the inputs'
// batch flows, not from sizes, so a hidden size or a length equal to the
// batch stays: a time-first sequence [T, B, ...] has it on axis 1, a scan's
// step [B, ...] on axis 0, and a carry [B, H] where the body puts it. A
// reshape's shape follows its operand's batch axis ([T, B, H] <-> [T * B, H]),
// a slice keeps the whole of a batch axis, a constant that starts a scan
// carry (zeros [B, H]) gets the batch on the axes the body needs, and a
// broadcast_to or bernoulli whose `shape` starts with the old batch (and
// whose operand holds none) starts with the new one. Throws naming the node
// when the graph cannot follow the batch: a slice of part of a batch axis, a
// reshape that cannot tell which axis holds it (write -1 there), a carry
// that holds the batch but is a param, a type that no longer works.
ir::Graph withBatchSize(const ir::Graph &model, const ModelSignature &sig, int64_t batch);

// The same for any graph: every input whose first dimension is `from`
// gets `to` (`chainjit run --batch`, prediction at any batch size). A model
// file's batch is the first dimension of its first input of rank >= 1
// (graphBatchSize, 0 when it has none).
ir::Graph withBatchSize(const ir::Graph &g, int64_t from, int64_t to);
int64_t graphBatchSize(const ir::Graph &g);

// The model with its time-first inputs made batch-first, so that the
// trainer can batch every input along its leading axis. An imported
// recurrent model takes X [T, N, I] (ONNX's layout) and labels [N]: when the
// target's first dimension N is not the features' first dimension, every
// input whose second dimension is N and whose first is not becomes
// %X : [N, T, I], transposed back to [T, N, I] in the graph (as
// %X.time_first). Any other model is returned as it is. (A sequence as long
// as the batch is not told apart: export with T != N.)
ir::Graph withBatchFirstInputs(const ir::Graph &model, const InspectOptions &options = {});

// A graph that computes only the outputs `names` (in that order; a leading
// '%' is allowed): the nodes they do not depend on are gone, inputs and
// params included, and so are the updates. So a prediction needs neither
// the labels nor the loss. Throws naming an unknown value.
ir::Graph withOutputs(const ir::Graph &g, const std::vector<std::string> &names);
// The same with the graph's own outputs: after eval-mode expansion has
// removed the dropouts, their step-counter input goes too.
ir::Graph withoutUnusedValues(const ir::Graph &g);

// The model with every dropout's `rate` attribute set to `rate` (in [0, 1)).
// Throws if the model has no dropout op.
ir::Graph withDropoutRate(const ir::Graph &model, double rate);

// A per-parameter coefficient map ("W1" -> 0.01) for L1 or L2 penalties.
using Coefficients = std::map<std::string, double>;

// How the training-step graph updates the params itself.
enum class InGraphUpdate {
  None,     // outputs loss, prediction and grad.<param> for every trainable param
  Gradient, // param := param - lr * grad   (GD / SGD)
  Momentum, // v := mu * v + grad; param := param - lr * v   (heavy ball)
};

struct StepGraphOptions {
  InGraphUpdate update = InGraphUpdate::Gradient;
  // L2: the objective adds sum over params of l2[p] / 2 * ||p||^2, so the
  // gradient gains l2[p] * p (weight decay).
  Coefficients l2;
  // L1 (only with an in-graph update): after the gradient step, the proximal
  // map of lr * l1[p] * ||p||_1, soft thresholding
  //   p := sign(u) * max(|u| - lr * l1[p], 0),
  // which sets small weights to exactly zero.
  Coefficients l1;
  // A memory limit (bytes) for the forward values the gradient keeps:
  // checkpoints and recomputation planned by the chain optimizer
  // (compiler/RecomputedGradient.h). nullopt: the whole tape.
  std::optional<double> memoryLimit;
};

// Names the step graph uses for what it adds to the model.
inline constexpr const char *kLearningRateInput = "train.lr"; // scalar, the loss dtype
inline constexpr const char *kMomentumInput = "train.mu";     // scalar (Momentum)
std::string velocityParamName(const std::string &param);      // "train.velocity.<p>"
std::string gradOutputName(const std::string &param);         // "grad.<p>"

// The training step of `model` (already at the wanted batch size): train
// mode expanded (dropout masks, batch statistics), the gradient of the loss
// plus L2 penalty with respect to every trainable param, and the update of
// `options`, so that one call does forward, gradient and update. Outputs:
// the loss (without penalties), then the prediction if the model has one,
// then (InGraphUpdate::None) the gradients in sig.trainable order. Updates:
// the running statistics of batch_norm layers, and with an in-graph update
// every trainable param (and its velocity).
ir::Graph buildStepGraph(const ir::Graph &model, const ModelSignature &sig,
                         const StepGraphOptions &options);

// The evaluation graph: eval mode expanded (no dropout, running
// statistics), outputs the loss and the prediction (if any), no updates.
ir::Graph buildEvalGraph(const ir::Graph &model, const ModelSignature &sig);

} // namespace chainjit::runtime::train
