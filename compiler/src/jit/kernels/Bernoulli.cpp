// The bernoulli mask from the counter-based generator of ir/CounterRng.h,
// converted exactly as the interpreter does so both backends draw the same
// mask bit for bit.
#include "jit/kernels/KernelSupport.h"

#include "chainjit/ir/CounterRng.h"

namespace chainjit::compiler::jit::kernels {

namespace {

// params of cj_bernoulli_{f32,f64}: [0] element count, [1] seed, [2] p (the
// bits of a double). operands: {counter (an i32 scalar)}. Element i is 1 when
// counterUniform(seed, counter, i) < p, else 0; the counter and the seed are
// sign-extended to 64 bits.
template <typename T>
int32_t bernoulli(void *const *operands, void *result, const int64_t *p, void *) {
  const auto counter = static_cast<uint64_t>(
      static_cast<int64_t>(*static_cast<const int32_t *>(operands[0])));
  const auto seed = static_cast<uint64_t>(p[1]);
  const double prob = paramDouble(p[2]);
  T *y = static_cast<T *>(result);
  for (int64_t i = 0; i < p[0]; ++i)
    y[i] = ir::counterUniform(seed, counter, static_cast<uint64_t>(i)) < prob ? T(1) : T(0);
  return kJitOk;
}

LibraryCall lowerBernoulli(const ir::Graph &g, ir::NodeId id) {
  const ir::Node &n = g.node(id);
  return {typedSymbol("bernoulli", n.type.dtype),
          {n.type.numel(), n.attrs.getInt("seed"), paramBits(n.attrs.getFloat("p"))},
          0};
}

} // namespace

std::vector<LibraryKernel> bernoulliKernels() {
  return {{ir::OpKind::Bernoulli, lowerBernoulli}};
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_bernoulli, bernoulli)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::bernoulliSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_bernoulli)};
}
