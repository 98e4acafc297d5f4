// ONNX import: a model exported by another framework (torch.onnx.export,
// tf2onnx, ...) as a chainjit graph that can be differentiated, planned,
// compiled and trained like a hand-written one (docs/onnx.md).
//
//   frontends::OnnxImport m = frontends::importOnnx("mlp.onnx");
//   frontends::attachLoss(m, "cross_entropy", "labels");
//   // m.graph: inputs, params (the initializers), outputs [loss, logits]
//   // m.params: the initializers' values, by param name
//
// The model is read with Debian's libonnx (the protobuf classes of
// onnx/onnx_pb.h); a build without it (CHAINJIT_ONNX=OFF) still has these
// functions, and importOnnx then throws an Error saying so.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <map>
#include <string>
#include <string_view>

namespace chainjit::frontends {

struct OnnxImportOptions {
  // Initializers become params (trainable, their values in OnnxImport::params)
  // by default; with this, consts holding their values in the graph.
  bool initializersAsConsts = false;
  // Values for symbolic dimensions (dim_param, e.g. "batch"): a dynamic
  // dimension without a value here is an error naming the input.
  std::map<std::string, int64_t> dimValues;
};

struct OnnxImport {
  ir::Graph graph;
  // The initial values of the graph's params, by name (empty with
  // initializersAsConsts): what `chainjit import` writes to the .npz.
  std::map<std::string, ir::Tensor> params;
  int64_t opsetVersion = 0; // of the default ("ai.onnx") domain
};

// Whether this build can read ONNX files (built with libonnx).
bool onnxImportAvailable();

// Reads and converts a model file. Every problem is a chainjit::Error at
// the file naming what is wrong: an unreadable or malformed file, a tensor
// whose data disagrees with its dims or dtype, and an operator, attribute
// value or dynamic shape that chainjit does not support (naming the node's
// name and index and its op type). Never a silently different graph.
OnnxImport importOnnx(const std::string &path, const OnnxImportOptions &options = {});
// The same from the file's bytes; `filename` is used in messages.
OnnxImport importOnnxBytes(std::string_view bytes, const std::string &filename,
                           const OnnxImportOptions &options = {});

// Attaches a training loss to an imported graph: a new i32[N] input named
// `labels` and `loss = cross_entropy(first output, labels)` as the graph's
// first output (the original outputs follow), which is what `chainjit
// train` expects. The first output must be float [N, C]. `loss` is
// "cross_entropy" (the only one so far); another name is an Error.
void attachLoss(OnnxImport &model, std::string_view loss, const std::string &labels);

} // namespace chainjit::frontends
