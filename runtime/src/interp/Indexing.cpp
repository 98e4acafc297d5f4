// Index arithmetic shared by the kernels: broadcasting, axes, and storing
// integer results with machine wrap-around.
#include "interp/Kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace chainjit::runtime::interp {

void storeValue(ir::Tensor &t, int64_t i, double v) {
  if (t.dtype() != ir::DType::i32 || !std::isfinite(v) ||
      std::fabs(v) >= 0x1.0p63) {
    t.set(i, v);
    return;
  }
  // i32 arithmetic wraps modulo 2^32 like the machine's; the double holds the
  // exact integer result of the (small) operations we do on i32 data.
  auto wide = static_cast<int64_t>(v);
  t.as<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(wide));
}

std::vector<int64_t> broadcastIndex(const ir::Shape &from, const ir::Shape &to) {
  // Strides of `from` aligned to the right of `to`, 0 along broadcast axes.
  size_t r = to.size(), offset = r - from.size();
  std::vector<int64_t> fromStrides = ir::stridesOf(from);
  std::vector<int64_t> strides(r, 0);
  for (size_t d = offset; d < r; ++d)
    if (from[d - offset] != 1)
      strides[d] = fromStrides[d - offset];
  int64_t n = ir::numElements(to);
  std::vector<int64_t> index(static_cast<size_t>(n));
  std::vector<int64_t> pos(r, 0); // multi-index into `to`, advanced like an odometer
  int64_t flat = 0;
  for (int64_t i = 0; i < n; ++i) {
    index[i] = flat;
    for (size_t d = r; d-- > 0;) {
      ++pos[d];
      flat += strides[d];
      if (pos[d] < to[d])
        break;
      flat -= strides[d] * pos[d];
      pos[d] = 0;
    }
  }
  return index;
}

int64_t normalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> normalizeAxes(const ir::Ints &axes, int64_t rank) {
  std::vector<int64_t> r;
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d)
      r.push_back(d);
  for (int64_t a : axes)
    r.push_back(normalizeAxis(a, rank));
  std::sort(r.begin(), r.end());
  return r;
}

int64_t extent(const ir::Shape &shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t d = begin; d < end; ++d)
    n *= shape[d];
  return n;
}

} // namespace chainjit::runtime::interp
