// The C++ builder API: graphs that read like the math.
//
//   Graph g("mlp");
//   Value x  = input(g, "x", f32({32, 64}));
//   Value W1 = param(g, "W1", f32({64, 128}), {{"init", "glorot"}});
//   Value b1 = param(g, "b1", f32({128}));
//   Value h  = relu(matmul(x, W1) + b1).named("h");
//   output(crossEntropy(matmul(h, W2) + b2, y).named("loss"));
//
// Every function checks operand types and attributes at once and throws
// chainjit::Error naming the op on a problem.
#pragma once

#include "chainjit/ir/Graph.h"

#include <optional>
#include <string>
#include <vector>

namespace chainjit::ir {

// A handle to one node of a graph.
class Value {
public:
  Value(Graph &g, NodeId id) : g_(&g), id_(id) {}

  Graph &graph() const { return *g_; }
  NodeId id() const { return id_; }
  // By value: building more nodes may move the graph's node storage, so a
  // reference into it would not survive the next builder call.
  TensorType type() const { return g_->type(id_); }
  Shape shape() const { return g_->type(id_).shape; }
  DType dtype() const { return type().dtype; }
  // Names the node (names are unique within a graph) and returns it.
  Value named(std::string name) const;

private:
  Graph *g_;
  NodeId id_;
};

// --- sources and results ---
Value input(Graph &g, std::string name, TensorType type);
Value param(Graph &g, std::string name, TensorType type, Attrs attrs = {});
Value constant(Graph &g, Tensor value, std::string name = {});
Value scalar(Graph &g, double v, DType dtype = DType::f32);
void output(Value v);
// After a call, `p` (a param) takes the value of `v`.
void update(Value p, Value v);

// Any op by kind; the typed functions below call this.
Value apply(OpKind kind, const std::vector<Value> &operands, Attrs attrs = {});

// --- elementwise ---
Value neg(Value x);
Value exp(Value x);
Value log(Value x);
Value sqrt(Value x);
Value abs(Value x);
Value sign(Value x);
Value pow(Value x, double exponent);
Value relu(Value x);
Value sigmoid(Value x);
Value tanh(Value x);
Value softplus(Value x);
Value erf(Value x);
// x * Phi(x); with tanhApproximation, 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
Value gelu(Value x, bool tanhApproximation = false);
Value cast(Value x, DType to);
Value add(Value a, Value b);
Value sub(Value a, Value b);
Value mul(Value a, Value b);
Value div(Value a, Value b);
Value maximum(Value a, Value b);
Value minimum(Value a, Value b);
Value less(Value a, Value b);
Value lessEqual(Value a, Value b);
Value greater(Value a, Value b);
Value greaterEqual(Value a, Value b);
Value equal(Value a, Value b);
Value notEqual(Value a, Value b);
Value where(Value cond, Value a, Value b);

Value operator+(Value a, Value b);
Value operator-(Value a, Value b);
Value operator*(Value a, Value b);
Value operator/(Value a, Value b);
Value operator-(Value a);
// A double on one side becomes a scalar constant of the other side's dtype.
Value operator+(Value a, double b);
Value operator+(double a, Value b);
Value operator-(Value a, double b);
Value operator-(double a, Value b);
Value operator*(Value a, double b);
Value operator*(double a, Value b);
Value operator/(Value a, double b);
Value operator/(double a, Value b);

// --- shape ---
Value reshape(Value x, Shape shape);
Value transpose(Value x, Ints perm = {});
Value broadcastTo(Value x, Shape shape);
Value concat(const std::vector<Value> &xs, int64_t axis = 0);
Value slice(Value x, Ints starts, Ints ends, Ints strides = {});
Value pad(Value x, Ints low, Ints high, Ints interior = {});

// --- linear algebra ---
Value matmul(Value a, Value b);
Value solve(Value A, Value b);

// --- reductions ---
Value sum(Value x, Ints axes = {}, bool keepdims = false);
Value mean(Value x, Ints axes = {}, bool keepdims = false);
Value max(Value x, Ints axes = {}, bool keepdims = false);
// sum((x - mean)^2) / (n - correction); correction 1 is the sample variance.
Value variance(Value x, Ints axes = {}, bool keepdims = false, int64_t correction = 0);
Value argmax(Value x, int64_t axis = -1, bool keepdims = false);
Value softmax(Value x, int64_t axis = -1);
Value logSoftmax(Value x, int64_t axis = -1);

// --- losses ---
Value crossEntropy(Value logits, Value target);
Value mse(Value prediction, Value target);

// --- layers ---
Value conv2d(Value x, Value w, Ints stride = {1, 1}, Ints padding = {0, 0},
             Ints dilation = {1, 1});
// conv2d's two adjoints, as ops of their own (the rules of conv2d use them).
// convTranspose2d: [N, O, OH, OW] with w [O, C, KH, KW] -> [N, C, H, W],
// H = (OH-1)*stride - 2*padding + dilation*(KH-1) + outputPadding + 1, each
// input element scattering w times itself (PyTorch's conv_transpose2d).
// conv2dWeightGrad: input [N, C, H, W] and outputGrad [N, O, OH, OW] ->
// [O, C, KH, KW], the gradient of sum(outputGrad * conv2d(input, W)) in W.
Value convTranspose2d(Value x, Value w, Ints stride = {1, 1}, Ints padding = {0, 0},
                      Ints dilation = {1, 1}, Ints outputPadding = {0, 0});
Value conv2dWeightGrad(Value x, Value outputGrad, Ints kernel, Ints stride = {1, 1},
                       Ints padding = {0, 0}, Ints dilation = {1, 1});
Value maxPool2d(Value x, Ints kernel, Ints stride = {}, Ints padding = {0, 0});
// max_pool2d's adjoint: outputGrad (the pooled shape) shared equally by the
// taps of each window of x that equal its maximum.
Value maxPool2dGrad(Value x, Value outputGrad, Ints kernel, Ints stride = {},
                    Ints padding = {0, 0});
Value avgPool2d(Value x, Ints kernel, Ints stride = {}, Ints padding = {0, 0});
// im2col: [N, C, H, W] -> [N, C*KH*KW, OH*OW]; positions in the padding read
// padValue. fold2d is its adjoint: [N, C*KH*KW, L] -> [N, C, output[0],
// output[1]], summing overlapping windows.
Value unfold2d(Value x, Ints kernel, Ints stride = {1, 1}, Ints padding = {0, 0},
               Ints dilation = {1, 1}, double padValue = 0.0);
Value fold2d(Value cols, Ints output, Ints kernel, Ints stride = {1, 1},
             Ints padding = {0, 0}, Ints dilation = {1, 1});
Value bernoulli(Value counter, Shape shape, double p, int64_t seed = 0,
                DType dtype = DType::f32);
Value dropout(Value x, Value counter, double rate, int64_t seed = 0);
Value batchNorm(Value x, Value gamma, Value beta, Value runningMean,
                Value runningVar, double eps = 1e-5, double momentum = 0.1);
// Normalizes over the axes from `axis` to the last; scale and shift, when
// given, have those axes' shape (shift needs scale).
Value layerNorm(Value x, std::optional<Value> scale = {}, std::optional<Value> shift = {},
                int64_t axis = -1, double eps = 1e-5);

// --- indexing (an index out of range is a run-time error) ---
// x.shape[:axis] + indices.shape + x.shape[axis+1:]; an embedding lookup is
// gather(table, ids).
Value gather(Value x, Value indices, int64_t axis = 0);
// gather's adjoint: `size` entries along `axis`, each slice of updates added
// at its index.
Value scatterAdd(Value updates, Value indices, int64_t size, int64_t axis = 0);
// Each entry's index along `axis`.
Value iota(Graph &g, Shape shape, int64_t axis = 0, DType dtype = DType::i32);
// indices.shape + [depth]: 1 at each index.
Value oneHot(Value indices, int64_t depth, DType dtype = DType::f32);
// Sums the rows of data into numSegments rows by an i32 segment id per row
// (scatter_add along axis 0).
Value segmentSum(Value data, Value segmentIds, int64_t numSegments);
// bool [n, n], true where column <= row: the mask of causal attention
// (where(causalMask(g, n), scores, -inf)).
Value causalMask(Graph &g, int64_t n);

// --- sparse matrices in CSR form ---
struct CsrMatrix {
  Value rowPtr;  // i32 [rows + 1]
  Value colIdx;  // i32 [nnz]
  Value values;  // float [nnz]
  int64_t cols;  // the number of columns
};
// a · dense, or a^T · dense with transpose.
Value spmm(const CsrMatrix &a, Value dense, bool transpose = false);
// out[e] = x[row(e)] · y[colIdx[e]] at the pattern of (rowPtr, colIdx).
Value sddmm(Value rowPtr, Value colIdx, Value x, Value y);

} // namespace chainjit::ir
