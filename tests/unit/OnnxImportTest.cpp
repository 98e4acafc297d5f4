// ONNX import (frontends/onnx) against PyTorch: models exported by
// tests/fixtures/make_onnx_models.py (an MLP, the CNN of
// examples/fashion_cnn.cj, batch norm and dropout in eval mode, a model of
// many operators, a model built with onnx.helper) give PyTorch's outputs
// within 1e-5 on both backends, and the weight gradients under an attached
// cross-entropy loss match PyTorch's. Bad models are refused with messages
// naming what is wrong. The suite needs no PyTorch: the fixtures are
// committed.
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/frontends/Onnx.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Npz.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

std::string fixturePath(const std::string &name) {
  return std::string(CHAINJIT_TESTS_DIR) + "/fixtures/onnx/" + name;
}

const Tensor &entry(const runtime::TensorMap &m, const std::string &name) {
  auto it = m.find(name);
  INFO("fixture entry " << name);
  REQUIRE(it != m.end());
  return it->second;
}

void checkClose(const Tensor &got, const Tensor &want, const std::string &what, double tol) {
  CAPTURE(what);
  REQUIRE(got.numel() == want.numel());
  REQUIRE(got.shape() == want.shape());
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    worst = std::max(worst, std::fabs(got.at(i) - want.at(i)) / std::max(1.0, std::fabs(want.at(i))));
  INFO(what << ": largest difference " << worst);
  CHECK(worst <= tol);
}

const Tensor &outputNamed(const Graph &g, const runtime::EvalResult &r, const std::string &name) {
  const auto &outs = g.outputs();
  size_t at = std::find(outs.begin(), outs.end(), g.lookup(name)) - outs.begin();
  INFO("output " << name);
  REQUIRE(at < outs.size());
  return r.outputs.at(at);
}

// Both backends, recurrent models (scans) included.
std::vector<runtime::Backend> backendsFor(const Graph &) {
  return {runtime::Backend::Interp, runtime::Backend::Jit};
}

// Imports NAME.onnx and checks every out.X of NAME.npz on both backends.
void checkOutputs(const std::string &name, bool consts = false) {
  CAPTURE(name);
  frontends::OnnxImportOptions opts;
  opts.initializersAsConsts = consts;
  frontends::OnnxImport m = frontends::importOnnx(fixturePath(name + ".onnx"), opts);
  runtime::TensorMap want = runtime::loadNpz(fixturePath(name + ".npz"));
  runtime::Bindings b;
  for (NodeId in : m.graph.inputs())
    b[m.graph.node(in).name] = entry(want, m.graph.node(in).name);
  for (const auto &[p, t] : m.params)
    b[p] = t;
  if (consts)
    CHECK(m.graph.params().empty());
  int checked = 0;
  // Eval mode: batch_norm with the running statistics, as ONNX's inference.
  Graph eval = compiler::expandModes(m.graph, compiler::Mode::Eval);
  for (runtime::Backend backend : backendsFor(eval)) {
    CAPTURE(int(backend));
    runtime::EvalResult r = runtime::makeExecutable(eval, backend)->run(b);
    for (const auto &[key, value] : want)
      if (key.rfind("out.", 0) == 0 && key != "out.loss") {
        checkClose(outputNamed(eval, r, key.substr(4)), value, key, 1e-5);
        ++checked;
      }
  }
  CHECK(checked >= 1); // at least one output compared
}

// The gradient of cross_entropy(logits, labels) with respect to every
// param against PyTorch's grad.NAME.
void checkGradients(const std::string &name) {
  CAPTURE(name);
  frontends::OnnxImport m = frontends::importOnnx(fixturePath(name + ".onnx"));
  frontends::attachLoss(m, "cross_entropy", "labels");
  runtime::TensorMap want = runtime::loadNpz(fixturePath(name + ".npz"));
  std::vector<std::string> params;
  for (NodeId p : m.graph.params())
    params.push_back(m.graph.node(p).name);
  REQUIRE(params.size() >= 4);
  Graph d = compiler::grad(m.graph, "loss", params);
  runtime::Bindings b;
  for (NodeId in : m.graph.inputs())
    b[m.graph.node(in).name] = entry(want, m.graph.node(in).name);
  for (const auto &[p, t] : m.params)
    b[p] = t;
  for (runtime::Backend backend : backendsFor(d)) {
    CAPTURE(int(backend));
    runtime::EvalResult r = runtime::makeExecutable(d, backend)->run(b);
    checkClose(outputNamed(d, r, "loss"), entry(want, "out.loss"), "loss", 1e-5);
    for (const std::string &p : params)
      checkClose(outputNamed(d, r, "grad." + p), entry(want, "grad." + p), "grad." + p, 1e-5);
  }
}

std::string importError(const std::string &file, frontends::OnnxImportOptions opts = {}) {
  try {
    frontends::importOnnx(fixturePath(file), opts);
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

TEST_CASE("onnx: models exported by PyTorch give its outputs within 1e-5") {
  if (!frontends::onnxImportAvailable()) {
    CHECK(importError("mlp.onnx").find("built without ONNX support") != std::string::npos);
    return;
  }
  checkOutputs("mlp");
  checkOutputs("fashion_cnn");
  checkOutputs("bn_dropout");
  checkOutputs("ops");
  checkOutputs("ops2");
  checkOutputs("helper_opset11");
  checkOutputs("lstm");
  checkOutputs("gru");
  checkOutputs("bilstm");
  checkOutputs("bigru");
  checkOutputs("reverse_gru");
}

TEST_CASE("onnx: initializers as consts give the same outputs and no params") {
  if (!frontends::onnxImportAvailable())
    return;
  checkOutputs("mlp", true);
  checkOutputs("bn_dropout", true);
}

TEST_CASE("onnx: weight gradients under an attached cross-entropy loss match PyTorch's") {
  if (!frontends::onnxImportAvailable())
    return;
  checkGradients("mlp");
  checkGradients("fashion_cnn");
  checkGradients("lstm");
  checkGradients("gru");
  checkGradients("bilstm");
  checkGradients("bigru");
}

TEST_CASE("onnx: the imported graph keeps the model's names and structure") {
  if (!frontends::onnxImportAvailable())
    return;
  frontends::OnnxImport m = frontends::importOnnx(fixturePath("fashion_cnn.onnx"));
  CHECK(m.opsetVersion == 13);
  CHECK(m.graph.inputs().size() == 1);
  CHECK(m.graph.type(m.graph.lookup("images")) == f32({2, 1, 28, 28}));
  CHECK(m.graph.type(m.graph.lookup("conv1.weight")) == f32({8, 1, 5, 5}));
  CHECK(m.params.size() == 8);
  int convs = 0, pools = 0;
  for (const Node &n : m.graph.nodes()) {
    convs += n.kind == OpKind::Conv2d;
    pools += n.kind == OpKind::MaxPool2d;
  }
  CHECK(convs == 2);
  CHECK(pools == 2);
  // Batch norm's running statistics are state, not trained.
  frontends::OnnxImport bn = frontends::importOnnx(fixturePath("bn_dropout.onnx"));
  const Node &mean = bn.graph.node(bn.graph.lookup("bn1.running_mean"));
  CHECK(mean.attrs.getBool("trainable") == false);
  CHECK(bn.graph.node(bn.graph.lookup("bn1.weight")).attrs.getBool("trainable") == true);
}

TEST_CASE("onnx: attachLoss puts the loss first and checks its arguments") {
  if (!frontends::onnxImportAvailable())
    return;
  frontends::OnnxImport m = frontends::importOnnx(fixturePath("mlp.onnx"));
  frontends::attachLoss(m, "cross_entropy", "y");
  REQUIRE(m.graph.outputs().size() == 2);
  CHECK(m.graph.node(m.graph.outputs()[0]).name == "loss");
  CHECK(m.graph.node(m.graph.outputs()[1]).name == "logits");
  CHECK(m.graph.type(m.graph.lookup("y")) == i32({4}));
  CHECK(m.graph.type(m.graph.lookup("loss")) == f32({}));
  auto message = [](auto f) {
    try {
      f();
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  frontends::OnnxImport m2 = frontends::importOnnx(fixturePath("mlp.onnx"));
  CHECK(message([&] { frontends::attachLoss(m2, "mse", "y"); }) ==
        "the loss 'mse' is not supported (cross_entropy is)");
  CHECK(message([&] { frontends::attachLoss(m2, "cross_entropy", "x"); }) ==
        "the labels name 'x' is already a value of the model");
  frontends::OnnxImport ops = frontends::importOnnx(fixturePath("helper_opset11.onnx"));
  CHECK(message([&] { frontends::attachLoss(ops, "cross_entropy", "labels"); })
            .find("needs the first output to be float logits [N, C]") != std::string::npos);
}

TEST_CASE("onnx: bad models are refused with a message naming the problem") {
  if (!frontends::onnxImportAvailable())
    return;
  std::string dir = fixturePath("");
  CHECK(importError("bad_unsupported_op.onnx") ==
        dir + "bad_unsupported_op.onnx: node 1 'the_cosine' (Cos): the operator Cos is not "
              "supported (docs/onnx.md lists the supported operators)");
  CHECK(importError("bad_dynamic_shape.onnx").find(
            "graph input 'x' has the dynamic dimension 'batch' at axis 0") != std::string::npos);
  CHECK(importError("bad_truncated.onnx") ==
        dir + "bad_truncated.onnx: not a valid ONNX model: the protobuf data is malformed or "
              "truncated");
  CHECK(importError("bad_raw_data.onnx") ==
        dir + "bad_raw_data.onnx: initializer 'W': raw_data holds 60 bytes but dims [4, 4] of "
              "FLOAT need 64");
  CHECK(importError("bad_conv_group.onnx") ==
        dir + "bad_conv_group.onnx: node 0 'grouped' (Conv): the attribute group = 2 is not "
              "supported (only 1: grouped and depthwise convolutions are not in chainjit's IR)");
  CHECK(importError("no_such_file.onnx") == dir + "no_such_file.onnx: cannot open the file");
}

TEST_CASE("onnx: the corpus of bad models, each with its message") {
  if (!frontends::onnxImportAvailable())
    return;
  const std::pair<const char *, const char *> corpus[] = {
      {"bad_asymmetric_pads", "node 0 'conv' (Conv): asymmetric pads [0, 0, 1, 1] are not "
                              "supported (begin and end must be equal)"},
      {"bad_avgpool_exclude_pad", "node 0 'pool' (AveragePool): count_include_pad = 0 with "
                                  "padding is not supported"},
      {"bad_domain", "node 0 'fused' (FusedGemm): the operator domain 'com.microsoft' is not "
                     "supported (only the default ONNX domain is)"},
      {"bad_dynamic_reshape", "node 0 'reshape' (Reshape): the target shape (input 1) must be a "
                              "constant: shapes computed at run time are not supported"},
      {"bad_external_data", "initializer 'W': data in an external file is not supported"},
      {"bad_float16", "graph input 'x' has element type FLOAT16, which is not supported"},
      {"bad_float_data", "initializer 'W': float_data holds 3 values but dims [2, 2] need 4"},
      {"bad_int64_range", "node 0 'add' (Add): input 'big': the value 3000000000 at position 1 "
                          "does not fit chainjit's i32"},
      {"bad_maxpool_indices", "'idx' is output 1 of node 0 'pool' (MaxPool), which chainjit does "
                              "not compute: MaxPool's Indices output is not supported"},
      {"bad_output_type", "graph output 'y' computes f32[2, 3], which differs from the shape the "
                          "model declares"},
      {"bad_training_dropout", "node 0 'drop' (Dropout): training_mode must be a constant false"},
      {"bad_unknown_attribute", "node 0 'relu' (Relu): the attribute 'alpha' is not supported"},
      {"bad_use_before_def", "node 0 'first' (Relu): input 'z' is not defined before its use"},
  };
  for (const auto &[file, message] : corpus) {
    std::string file_name = std::string(file) + ".onnx";
    std::string got = importError(file_name);
    INFO(file_name << ": " << got);
    CHECK(got.rfind(fixturePath(file_name) + ": " + message, 0) == 0);
  }
}

TEST_CASE("onnx: a symbolic dimension takes the value given for it") {
  if (!frontends::onnxImportAvailable())
    return;
  frontends::OnnxImportOptions opts;
  opts.dimValues["batch"] = 7;
  frontends::OnnxImport m = frontends::importOnnx(fixturePath("bad_dynamic_shape.onnx"), opts);
  CHECK(m.graph.type(m.graph.lookup("y")) == f32({7, 3}));
}

TEST_CASE("onnx: arbitrary bytes are an error, never a crash") {
  if (!frontends::onnxImportAvailable())
    return;
  std::ifstream in(fixturePath("mlp.onnx"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  // Every prefix length class and some flipped bytes: each either imports or throws Error.
  int errors = 0;
  for (size_t cut = 0; cut < bytes.size(); cut += 37) {
    try {
      frontends::importOnnxBytes(std::string_view(bytes).substr(0, cut), "cut.onnx");
    } catch (const Error &) {
      ++errors;
    }
  }
  for (size_t at = 0; at < bytes.size(); at += 53) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
    try {
      frontends::importOnnxBytes(flipped, "flipped.onnx");
    } catch (const Error &) {
      ++errors;
    }
  }
  CHECK(errors > 0);
}
