#include "chainjit/ir/Tensor.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"

#include <cmath>
#include <cstdint>

namespace chainjit::ir {

// The byte count is checked before anything is allocated: a type too large
// to exist, or larger than the allocation limit, is an error, not a wrapped
// size or a failed allocation.
static size_t checkedTensorBytes(const TensorType &type) {
  std::optional<uint64_t> bytes = checkedByteSize(type);
  if (!bytes)
    throw Error("a tensor of type " + type.str() + " is too large to exist (more than " +
                formatBytes(kMaxTensorBytes) + ")");
  checkAlloc(*bytes, "a tensor of type " + type.str());
  return static_cast<size_t>(*bytes);
}

Tensor::Tensor(TensorType type) : type_(std::move(type)), bytes_(checkedTensorBytes(type_)) {}

Tensor::Tensor(TensorType type, const std::vector<double> &values)
    : Tensor(std::move(type)) {
  if (static_cast<int64_t>(values.size()) != numel())
    throw Error("tensor of type " + type_.str() + " needs " +
                std::to_string(numel()) + " values, got " +
                std::to_string(values.size()));
  for (int64_t i = 0; i < numel(); ++i)
    set(i, values[i]);
}

Tensor Tensor::filled(TensorType type, double value) {
  Tensor t(std::move(type));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, value);
  return t;
}

double Tensor::at(int64_t i) const {
  switch (type_.dtype) {
  case DType::f32: return as<float>()[i];
  case DType::f64: return as<double>()[i];
  case DType::i32: return as<int32_t>()[i];
  case DType::boolean: return as<uint8_t>()[i] ? 1.0 : 0.0;
  }
  return 0;
}

void Tensor::set(int64_t i, double v) {
  switch (type_.dtype) {
  case DType::f32: as<float>()[i] = static_cast<float>(v); break;
  case DType::f64: as<double>()[i] = v; break;
  case DType::i32:
    as<int32_t>()[i] = std::isfinite(v) ? static_cast<int32_t>(v) : 0;
    break;
  case DType::boolean: as<uint8_t>()[i] = v != 0.0; break;
  }
}

std::vector<double> Tensor::toDoubles() const {
  std::vector<double> r(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i)
    r[i] = at(i);
  return r;
}

bool Tensor::isSplat() const {
  size_t size = dtypeSize(type_.dtype);
  for (int64_t i = 1; i < numel(); ++i)
    if (std::memcmp(bytes_.data(), bytes_.data() + i * size, size) != 0)
      return false;
  return true;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (numElements(shape) != numel())
    throw Error("cannot reshape " + type_.str() + " to " + shapeStr(shape));
  Tensor t = *this;
  t.type_.shape = std::move(shape);
  return t;
}

} // namespace chainjit::ir
