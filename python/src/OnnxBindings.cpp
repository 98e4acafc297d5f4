// chainjit._core.import_onnx: frontends::importOnnx (and attachLoss) for
// chainjit.from_onnx (python/chainjit/__init__.py, docs/python.md).
#include "Bindings.h"

#include "chainjit/frontends/Onnx.h"

#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <optional>

namespace chainjit::python {

void bindOnnx(py::module_ &m) {
  m.def(
      "import_onnx",
      [](const std::string &path, bool consts, std::optional<std::string> loss,
         const std::string &labels, std::map<std::string, int64_t> dims) {
        frontends::OnnxImportOptions o;
        o.initializersAsConsts = consts;
        o.dimValues = std::move(dims);
        frontends::OnnxImport imported = [&] {
          py::gil_scoped_release release;
          return frontends::importOnnx(path, o);
        }();
        if (loss)
          frontends::attachLoss(imported, *loss, labels);
        py::dict params;
        for (const auto &[name, t] : imported.params)
          params[py::str(name)] = arrayFromTensor(t);
        return py::make_tuple(std::make_shared<ir::Graph>(std::move(imported.graph)), params);
      },
      py::arg("path"), py::arg("consts") = false, py::arg("loss") = py::none(),
      py::arg("labels") = "labels", py::arg("dims") = std::map<std::string, int64_t>{},
      "An ONNX model as (graph, params): see chainjit.from_onnx");
  m.def("onnx_available", &frontends::onnxImportAvailable,
        "Whether this build reads ONNX files (built with libonnx)");
}

} // namespace chainjit::python
