// ONNX tensors (initializers, Constant values, attribute tensors) read into
// checked constants. A TensorProto is input: its dims, its dtype and the
// length of its data are validated before anything is allocated or indexed.
#pragma once

#include "chainjit/ir/Tensor.h"

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>
#include <vector>

namespace chainjit::frontends::detail {

// The chainjit dtype of an ONNX element type: FLOAT f32, DOUBLE f64, INT32
// and INT64 i32 (chainjit's integer type; values are checked to fit), BOOL
// bool; nullopt for the rest.
std::optional<ir::DType> dtypeOf(int32_t onnxType);
// "FLOAT", "INT64", ... (or "type 42" for a number ONNX does not define).
std::string onnxTypeName(int32_t onnxType);

// A constant of the model. Integer tensors keep their int64 values, since
// shape arguments (Reshape's shape, Slice's ends = INT64_MAX) need not fit
// an i32; they become an i32 tensor only when used as a graph value.
struct OnnxConstant {
  int32_t onnxType = 0;
  ir::Shape shape;
  ir::Tensor floats;         // FLOAT, DOUBLE, BOOL: the values
  std::vector<int64_t> ints; // INT32, INT64: the values

  bool isInteger() const;
  // As a graph value; an integer outside i32 is an Error (message only:
  // `what` names the value, the caller adds where).
  ir::Tensor toTensor(const std::string &what) const;
};

// Reads `t`; a problem throws chainjit::Error whose message starts with
// `what` ("initializer 'fc1.weight'") and says what is wrong.
OnnxConstant readTensor(const onnx::TensorProto &t, const std::string &what);

} // namespace chainjit::frontends::detail
