// What an operator converter sees of one ONNX node: its attributes (read
// with defaults, checked by kind), its inputs as graph values or as
// constants, and where to put its outputs. Every problem is reported with
// fail(), which names the node: "node 3 '/fc1/Gemm' (Gemm): ...".
#pragma once

#include "OnnxTensors.h"

#include "chainjit/ir/Builder.h"

#include <onnx/onnx_pb.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace chainjit::frontends::detail {

class Importer;

class NodeContext {
public:
  NodeContext(Importer &importer, const onnx::NodeProto &node, int index)
      : importer_(importer), node_(node), index_(index) {}

  const onnx::NodeProto &node() const { return node_; }
  ir::Graph &graph();
  // The opset version of the default domain, for attributes that became
  // inputs (Slice 10, Squeeze/Unsqueeze 13, Reshape 5).
  int64_t opset() const;
  // "node 3 '/fc1/Gemm' (Gemm)"
  std::string describe() const;
  [[noreturn]] void fail(const std::string &message) const;

  // --- attributes ---
  // Every attribute of the node must be one of `known` (an attribute that
  // the converter does not read would otherwise be ignored silently).
  void checkAttributes(std::initializer_list<std::string_view> known) const;
  const onnx::AttributeProto *attribute(std::string_view name) const;
  int64_t intAttr(std::string_view name, int64_t def) const;
  double floatAttr(std::string_view name, double def) const;
  std::string stringAttr(std::string_view name, std::string def) const;
  std::optional<ir::Ints> intsAttr(std::string_view name) const;
  ir::Ints intsAttr(std::string_view name, ir::Ints def) const;
  // An attribute that must have the given value if present (group = 1).
  void requireIntAttr(std::string_view name, int64_t only, const std::string &why) const;

  // --- inputs (an empty name is an absent optional input) ---
  size_t inputCount() const { return static_cast<size_t>(node_.input_size()); }
  bool hasInput(size_t i) const;
  // The number of inputs must lie in [min, max] (absent optional ones at
  // the end count as absent).
  void checkInputCount(size_t min, size_t max) const;
  // As a graph value: an initializer becomes a param (trainable as given)
  // or a const at its first use, a constant a const.
  ir::Value input(size_t i, bool trainable = true);
  // Its constant value, or nullptr if it is computed by the graph.
  const OnnxConstant *constantInput(size_t i) const;
  // The integer values of input i, which must be a constant (Reshape's
  // shape, Slice's starts, ...); `what` names it in the error.
  std::vector<int64_t> constantInts(size_t i, const std::string &what) const;
  ir::TensorType inputType(size_t i);

  // --- outputs ---
  void setOutput(size_t i, ir::Value v);
  void setConstantOutput(size_t i, OnnxConstant c);
  // Outputs from `first` on exist in ONNX but not here (MaxPool's Indices,
  // Dropout's mask): using one later is an error naming this node.
  void unsupportedOutputsFrom(size_t first, const std::string &why);

private:
  Importer &importer_;
  const onnx::NodeProto &node_;
  int index_;
};

using Converter = void (*)(NodeContext &);
using ConverterTable = std::map<std::string, Converter, std::less<>>;

// The supported operators, by op type (OnnxMathOps.cpp, OnnxNNOps.cpp,
// OnnxShapeOps.cpp and OnnxRecurrentOps.cpp each add their own).
const ConverterTable &converters();
void addMathConverters(ConverterTable &t);
void addNNConverters(ConverterTable &t);
void addShapeConverters(ConverterTable &t);
void addRecurrentConverters(ConverterTable &t); // OnnxRecurrentOps.cpp: LSTM, GRU

// An axis in [-rank, rank) as [0, rank); out of range fails naming the node.
int64_t normalizeAxis(const NodeContext &ctx, int64_t axis, int64_t rank,
                      const std::string &what);

} // namespace chainjit::frontends::detail
