#include "OnnxTensors.h"

#include "chainjit/ir/Error.h"

#include <cstring>
#include <limits>

namespace chainjit::frontends::detail {

using onnx::TensorProto;

std::optional<ir::DType> dtypeOf(int32_t onnxType) {
  switch (onnxType) {
  case TensorProto::FLOAT: return ir::DType::f32;
  case TensorProto::DOUBLE: return ir::DType::f64;
  case TensorProto::INT32:
  case TensorProto::INT64: return ir::DType::i32;
  case TensorProto::BOOL: return ir::DType::boolean;
  default: return std::nullopt;
  }
}

std::string onnxTypeName(int32_t onnxType) {
  if (TensorProto::DataType_IsValid(onnxType))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(onnxType));
  return "type " + std::to_string(onnxType);
}

bool OnnxConstant::isInteger() const {
  return onnxType == TensorProto::INT32 || onnxType == TensorProto::INT64;
}

ir::Tensor OnnxConstant::toTensor(const std::string &what) const {
  if (!isInteger())
    return floats;
  ir::Tensor t(ir::TensorType{ir::DType::i32, shape});
  int32_t *out = t.as<int32_t>();
  for (size_t i = 0; i < ints.size(); ++i) {
    if (ints[i] < std::numeric_limits<int32_t>::min() ||
        ints[i] > std::numeric_limits<int32_t>::max())
      throw Error(what + ": the value " + std::to_string(ints[i]) + " at position " +
                  std::to_string(i) + " does not fit chainjit's i32");
    out[i] = static_cast<int32_t>(ints[i]);
  }
  return t;
}

namespace {

// Copies n little-endian elements of type T from raw bytes (x86-64 is
// little-endian, as ONNX's raw_data is).
template <typename T> std::vector<T> fromRaw(const std::string &raw, int64_t n) {
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0)
    std::memcpy(v.data(), raw.data(), static_cast<size_t>(n) * sizeof(T));
  return v;
}

size_t onnxElementSize(int32_t type) {
  switch (type) {
  case TensorProto::FLOAT:
  case TensorProto::INT32: return 4;
  case TensorProto::DOUBLE:
  case TensorProto::INT64: return 8;
  case TensorProto::BOOL: return 1;
  default: return 0;
  }
}

} // namespace

OnnxConstant readTensor(const TensorProto &t, const std::string &what) {
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size() > 0)
    throw Error(what + ": data in an external file is not supported (save the model with "
                       "its weights inside: onnx.save(model, path, save_as_external_data=False))");
  if (t.has_segment())
    throw Error(what + ": segmented tensors are not supported");
  std::optional<ir::DType> dt = dtypeOf(t.data_type());
  if (!dt)
    throw Error(what + ": element type " + onnxTypeName(t.data_type()) +
                " is not supported (FLOAT, DOUBLE, INT32, INT64 and BOOL are)");
  OnnxConstant c;
  c.onnxType = t.data_type();
  for (int64_t d : t.dims()) {
    if (d < 0)
      throw Error(what + ": dimension " + std::to_string(d) + " is negative");
    c.shape.push_back(d);
  }
  std::optional<uint64_t> bytes = ir::checkedByteSize(ir::TensorType{*dt, c.shape});
  std::optional<uint64_t> onnxBytes =
      ir::checkedByteSize(ir::TensorType{ir::DType::f64, c.shape}); // 8 bytes, the widest
  if (!bytes || !onnxBytes)
    throw Error(what + ": dims " + ir::shapeStr(c.shape) + " are too large");
  const int64_t n = ir::numElements(c.shape);
  const size_t elem = onnxElementSize(t.data_type());

  // Exactly one source of values: raw_data or the typed field of the dtype.
  auto countMismatch = [&](const std::string &field, int64_t have) {
    return Error(what + ": " + field + " holds " + std::to_string(have) + " values but dims " +
                 ir::shapeStr(c.shape) + " need " + std::to_string(n));
  };
  if (t.has_raw_data()) {
    const std::string &raw = t.raw_data();
    if (raw.size() != static_cast<uint64_t>(n) * elem)
      throw Error(what + ": raw_data holds " + std::to_string(raw.size()) + " bytes but dims " +
                  ir::shapeStr(c.shape) + " of " + onnxTypeName(t.data_type()) + " need " +
                  std::to_string(static_cast<uint64_t>(n) * elem));
    switch (t.data_type()) {
    case TensorProto::FLOAT: {
      c.floats = ir::Tensor(ir::f32(c.shape));
      if (n > 0)
        std::memcpy(c.floats.data(), raw.data(), raw.size());
      break;
    }
    case TensorProto::DOUBLE: {
      c.floats = ir::Tensor(ir::f64(c.shape));
      if (n > 0)
        std::memcpy(c.floats.data(), raw.data(), raw.size());
      break;
    }
    case TensorProto::BOOL: {
      c.floats = ir::Tensor(ir::boolean(c.shape));
      for (int64_t i = 0; i < n; ++i)
        c.floats.set(i, raw[static_cast<size_t>(i)] != 0 ? 1.0 : 0.0);
      break;
    }
    case TensorProto::INT32: {
      for (int32_t v : fromRaw<int32_t>(raw, n))
        c.ints.push_back(v);
      break;
    }
    case TensorProto::INT64: c.ints = fromRaw<int64_t>(raw, n); break;
    }
    return c;
  }
  switch (t.data_type()) {
  case TensorProto::FLOAT:
    if (t.float_data_size() != n)
      throw countMismatch("float_data", t.float_data_size());
    c.floats = ir::Tensor(ir::f32(c.shape));
    if (n > 0)
      std::memcpy(c.floats.data(), t.float_data().data(), static_cast<size_t>(n) * 4);
    break;
  case TensorProto::DOUBLE:
    if (t.double_data_size() != n)
      throw countMismatch("double_data", t.double_data_size());
    c.floats = ir::Tensor(ir::f64(c.shape));
    if (n > 0)
      std::memcpy(c.floats.data(), t.double_data().data(), static_cast<size_t>(n) * 8);
    break;
  case TensorProto::BOOL: // stored in int32_data
    if (t.int32_data_size() != n)
      throw countMismatch("int32_data", t.int32_data_size());
    c.floats = ir::Tensor(ir::boolean(c.shape));
    for (int64_t i = 0; i < n; ++i)
      c.floats.set(i, t.int32_data(static_cast<int>(i)) != 0 ? 1.0 : 0.0);
    break;
  case TensorProto::INT32:
    if (t.int32_data_size() != n)
      throw countMismatch("int32_data", t.int32_data_size());
    c.ints.assign(t.int32_data().begin(), t.int32_data().end());
    break;
  case TensorProto::INT64:
    if (t.int64_data_size() != n)
      throw countMismatch("int64_data", t.int64_data_size());
    c.ints.assign(t.int64_data().begin(), t.int64_data().end());
    break;
  }
  return c;
}

} // namespace chainjit::frontends::detail
