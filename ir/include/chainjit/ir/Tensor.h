// A dense, row-major host tensor: the value of a constant in the IR, and what
// callers pass to and get from the interpreter and the JIT.
#pragma once

#include "chainjit/ir/TensorStorage.h"
#include "chainjit/ir/Types.h"

#include <cstddef>
#include <cstring>
#include <vector>

namespace chainjit::ir {

class Tensor {
public:
  Tensor() = default;
  // Zero-filled tensor of the given type.
  explicit Tensor(TensorType type);
  // From values given as doubles, converted to the element type.
  Tensor(TensorType type, const std::vector<double> &values);

  static Tensor scalar(DType dtype, double value) {
    return Tensor({dtype, {}}, {value});
  }
  // Every element equal to `value`.
  static Tensor filled(TensorType type, double value);

  const TensorType &type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape &shape() const { return type_.shape; }
  int64_t numel() const { return type_.numel(); }

  // Element access by flat row-major index, through double (exact for every
  // dtype we have). set() rounds to the element type (f32 rounding, i32
  // truncation toward zero, bool = value != 0).
  double at(int64_t i) const;
  void set(int64_t i, double v);
  std::vector<double> toDoubles() const;

  // Raw storage for the JIT and the file loaders.
  void *data() { return bytes_.data(); }
  const void *data() const { return bytes_.data(); }
  size_t byteSize() const { return bytes_.size(); }
  template <typename T> T *as() { return reinterpret_cast<T *>(bytes_.data()); }
  template <typename T> const T *as() const {
    return reinterpret_cast<const T *>(bytes_.data());
  }

  // Same type and bit-identical contents (NaNs with equal bits compare equal).
  bool operator==(const Tensor &o) const {
    return type_ == o.type_ && bytes_ == o.bytes_;
  }

  // Every element has the same bits (so -0.0 next to 0.0, or NaNs of two
  // signs, are not a splat). True for an empty tensor.
  bool isSplat() const;

  // A copy with the same data under another shape of equal element count.
  Tensor reshaped(Shape shape) const;

private:
  TensorType type_;
  std::vector<std::byte, TensorAllocator<std::byte>> bytes_;
};

} // namespace chainjit::ir
