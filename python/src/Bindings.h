// Shared pieces of the chainjit._core extension: the Python-side handle of a
// value (which keeps its graph alive), dtype and array conversions, and the
// functions that add each group of bindings to the module.
#pragma once

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

namespace chainjit::python {

namespace py = pybind11;

// Python graphs are held by shared_ptr so that every Value handle can keep
// its graph alive (ir::Value holds a plain pointer).
using GraphPtr = std::shared_ptr<ir::Graph>;

struct ValueRef {
  GraphPtr graph;
  ir::NodeId id;
  ir::Value value() const { return {*graph, id}; }
};

// "f32", "float32", numpy dtypes and numpy scalar types to a DType; throws
// chainjit::Error naming `what` otherwise.
ir::DType toDType(const py::handle &obj, const std::string &what = "dtype");
py::dtype numpyDType(ir::DType t);
std::string describeArray(const py::array &a); // "float64 array of shape (2, 3)"

// A copy of `obj` as a tensor of exactly `type`: an ndarray must have the
// dtype and shape already (the error names `what`, the expected type and
// what was given); lists and scalars are converted to the dtype.
ir::Tensor tensorOfType(const py::handle &obj, const ir::TensorType &type,
                        const std::string &what);
// A tensor with the array's own dtype (int64 and other integer arrays
// become i32 when their values fit) and shape.
ir::Tensor tensorFromArray(const py::handle &obj, const std::string &what);
py::array arrayFromTensor(const ir::Tensor &t);

// `obj` as a C-contiguous array of `type` that the caller may hand to
// compiled code: the array itself when it already has that dtype and
// layout (no copy), else a converted copy (lists, scalars, strided views).
// An ndarray of another dtype or shape is an error naming `what`.
py::array bufferOfType(const py::handle &obj, const ir::TensorType &type,
                       const std::string &what);

// A compiled graph's profile (JitOptions::profile) at one batch size as a
// dict: batch, calls, seconds, kernels (a dict per kernel: kernel, calls,
// seconds) and table (compiler::formatProfile's text).
py::dict profileDict(int64_t batch, const compiler::GraphProfile &p);

void bindErrors(py::module_ &m);
void bindGraph(py::module_ &m);
void bindTransforms(py::module_ &m);
void bindExecutable(py::module_ &m);
void bindTraining(py::module_ &m);
void bindOnnx(py::module_ &m); // OnnxBindings.cpp
void bindFunctions(py::module_ &m); // FunctionBindings.cpp

} // namespace chainjit::python
