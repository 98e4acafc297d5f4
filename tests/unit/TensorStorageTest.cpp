// Tensors' storage: a tensor of a data set's size lives in a mapping of its
// own, 2 MiB aligned where this build maps them (TensorStorage.h), zero
// filled, usable to its last byte, copied, moved and freed like a small one.
#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/TensorStorage.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <utility>

using namespace chainjit;

namespace {

bool alignedToHugePage(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % (uintptr_t(2) << 20) == 0;
}

} // namespace

TEST_CASE("tensor storage: a data set's tensor zero filled, writable, copied, moved, freed") {
  // Just over the threshold, not a whole number of 2 MiB pages.
  const int64_t rows = int64_t(ir::kLargeTensorBytes / 3136) + 1;
  const ir::TensorType type{ir::DType::f32, {rows, 784}};
  for (int round = 0; round < 3; ++round) { // mapped and unmapped again
    ir::Tensor t(type);
    REQUIRE(t.byteSize() >= ir::kLargeTensorBytes);
    if (ir::largeTensorsMapped())
      CHECK(alignedToHugePage(t.data()));
    CHECK(t.at(0) == 0.0);
    CHECK(t.at(t.numel() - 1) == 0.0);
    t.set(0, 1.5);
    t.set(t.numel() - 1, -2.5);
    ir::Tensor copy = t;
    CHECK(copy == t);
    CHECK(copy.data() != t.data());
    CHECK(copy.at(t.numel() - 1) == -2.5);
    const void *before = t.data();
    ir::Tensor moved = std::move(t);
    CHECK(moved.data() == before);
    CHECK(moved.at(0) == 1.5);
    copy.set(1, 7.0);
    CHECK_FALSE(copy == moved);
  }
}

TEST_CASE("tensor storage: small tensors and the allocator's raw interface") {
  ir::Tensor small({ir::DType::f64, {3, 4}});
  CHECK(small.byteSize() == 96);
  CHECK(small.at(11) == 0.0);
  // Exactly the threshold, and one byte under it.
  for (size_t n : {ir::kLargeTensorBytes, ir::kLargeTensorBytes - 1, size_t(1)}) {
    CAPTURE(n);
    auto *p = static_cast<unsigned char *>(ir::allocateTensorBytes(n));
    REQUIRE(p != nullptr);
    p[0] = 1;
    p[n - 1] = 2;
    CHECK(p[n - 1] == 2);
    if (ir::largeTensorsMapped() && n >= ir::kLargeTensorBytes)
      CHECK(alignedToHugePage(p));
    ir::freeTensorBytes(p, n);
  }
}
