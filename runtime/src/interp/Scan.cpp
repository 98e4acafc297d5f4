// scan in the reference interpreter: the body, interpreted once per step, in
// time order or (reverse) from the last step to the first. Step t's y is
// stored at position t of its stacked sequence in either direction.
#include "interp/Kernels.h"

#include "chainjit/ir/Scan.h"
#include "chainjit/runtime/Interpreter.h"

#include <cstring>

namespace chainjit::runtime::interp {

namespace {

// Copies `count` elements of `from` (starting at element `fromAt`) into `to`
// at element `toAt`; both have the same dtype.
void copyElements(const ir::Tensor &from, int64_t fromAt, ir::Tensor &to, int64_t toAt,
                  int64_t count) {
  size_t width = ir::dtypeSize(from.dtype());
  std::memcpy(static_cast<char *>(to.data()) + toAt * width,
              static_cast<const char *>(from.data()) + fromAt * width, count * width);
}

ir::Tensor scanKernel(const KernelArgs &a) {
  if (!a.graph)
    a.fail("internal: the scan kernel needs its graph");
  const ir::Function *f = a.graph->findFunction(a.attrs().getString("body"));
  if (!f)
    a.fail("unknown body function @" + a.attrs().getString("body"));
  const ir::ScanLayout l = ir::scanLayout(*a.graph, a.id);
  const ir::Graph &body = f->body();
  auto paramName = [&](int64_t i) { return body.node(f->params().at(i)).name; };

  std::vector<ir::Tensor> carries;
  for (int64_t i = 0; i < l.carries; ++i)
    carries.push_back(a.in(i));
  ir::Tensor result(a.resultType());
  for (int64_t s = 0; s < l.length; ++s) {
    int64_t t = l.reverse ? l.length - 1 - s : s;
    Bindings bind;
    for (int64_t i = 0; i < l.carries; ++i)
      bind.emplace(paramName(i), carries[i]);
    for (int64_t j = 0; j < l.sequences; ++j) {
      int64_t p = l.carries + j;
      ir::Tensor step(f->paramType(p));
      copyElements(a.in(p), t * step.numel(), step, 0, step.numel());
      bind.emplace(paramName(p), std::move(step));
    }
    for (int64_t i = l.carries + l.sequences; i < static_cast<int64_t>(f->arity()); ++i)
      bind.emplace(paramName(i), a.in(i));
    EvalResult r = interpret(body, bind);
    for (int64_t i = 0; i < l.carries; ++i)
      carries[i] = std::move(r.outputs.at(i));
    for (size_t y = 0; y < l.numYs(); ++y) {
      const ir::Tensor &v = r.outputs.at(l.carries + y);
      copyElements(v, 0, result, l.offsets[l.carries + y] + t * v.numel(), v.numel());
    }
  }
  for (int64_t i = 0; i < l.carries; ++i)
    copyElements(carries[i], 0, result, l.offsets[i], carries[i].numel());
  return result;
}

} // namespace

std::vector<KernelEntry> controlKernels() { return {{ir::OpKind::Scan, scanKernel}}; }

} // namespace chainjit::runtime::interp
