// profileDict (Bindings.h): compiled graphs' kernel times for Python.
#include "Bindings.h"

namespace chainjit::python {

py::dict profileDict(int64_t batch, const compiler::GraphProfile &p) {
  py::list kernels;
  for (const compiler::KernelTime &k : p.kernels) {
    py::dict kd;
    kd["kernel"] = k.kernel;
    kd["calls"] = k.calls;
    kd["seconds"] = k.seconds;
    kernels.append(kd);
  }
  py::dict d;
  d["batch"] = batch;
  d["calls"] = p.calls;
  d["seconds"] = p.seconds;
  d["kernels"] = kernels;
  d["table"] = compiler::formatProfile(p);
  return d;
}

} // namespace chainjit::python
