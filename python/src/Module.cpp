// The chainjit._core extension module: bindings only, every behaviour is the
// C++ library's (docs/python.md).
#include "Bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "chainjit: a compiler for differentiable programs (C++ core)";
  chainjit::python::bindErrors(m);
  chainjit::python::bindGraph(m);
  chainjit::python::bindFunctions(m);
  chainjit::python::bindTransforms(m);
  chainjit::python::bindExecutable(m);
  chainjit::python::bindTraining(m);
  chainjit::python::bindOnnx(m);
}
