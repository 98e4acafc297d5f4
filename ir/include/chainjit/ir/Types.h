// Element types, shapes and tensor types of IR values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::ir {

// f32/f64 for real data, i32 for class labels and counters, bool for the
// masks that comparisons produce.
enum class DType : uint8_t { f32, f64, i32, boolean };

std::string_view dtypeName(DType t); // "f32", "f64", "i32", "bool"
std::optional<DType> parseDType(std::string_view name);
bool isFloat(DType t);
size_t dtypeSize(DType t); // bytes per element

using Shape = std::vector<int64_t>;

int64_t numElements(const Shape &s);
std::string shapeStr(const Shape &s); // "[2, 3]"
// Row-major strides in elements.
std::vector<int64_t> stridesOf(const Shape &s);

// The static type of every IR value. Scalars have rank 0.
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const { return numElements(shape); }
  bool operator==(const TensorType &) const = default;
  std::string str() const; // "f32[2, 3]"
};

inline TensorType f32(Shape s = {}) { return {DType::f32, std::move(s)}; }
inline TensorType f64(Shape s = {}) { return {DType::f64, std::move(s)}; }
inline TensorType i32(Shape s = {}) { return {DType::i32, std::move(s)}; }
inline TensorType boolean(Shape s = {}) { return {DType::boolean, std::move(s)}; }

// The most bytes one tensor may hold: 2^48 (256 TiB, the x86-64 user address
// space). A type above it cannot exist on any machine, so the verifier
// rejects it; below it, byte sizes of single tensors never overflow.
inline constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 48;

// Bytes of a value of type `t`, or nullopt when its element count overflows
// or the bytes exceed kMaxTensorBytes (or a dimension is negative).
std::optional<uint64_t> checkedByteSize(const TensorType &t);

// NumPy broadcasting of two shapes; nullopt if they are incompatible.
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b);

} // namespace chainjit::ir
