// chainjit::Error becomes chainjit.Error (a subclass of Exception) with the
// C++ message (where: message, one line per problem) and the diagnostics as
// a list of dicts (file, line, col, node, message).
#include "Bindings.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/Trainer.h"

namespace chainjit::python {

namespace {

PyObject *errorType = nullptr;
PyObject *divergedType = nullptr;

void raise(PyObject *type, const Error &e) {
  py::list diagnostics;
  for (const Diagnostic &d : e.diagnostics()) {
    py::dict item;
    item["file"] = d.loc.file;
    item["line"] = d.loc.line;
    item["col"] = d.loc.col;
    item["node"] = d.loc.node;
    item["location"] = d.loc.str();
    item["message"] = d.message;
    diagnostics.append(item);
  }
  py::object exc = py::reinterpret_borrow<py::object>(type)(e.what());
  exc.attr("diagnostics") = diagnostics;
  PyErr_SetObject(type, exc.ptr());
}

} // namespace

void bindErrors(py::module_ &m) {
  errorType = PyErr_NewExceptionWithDoc(
      "chainjit.Error",
      "A problem reported by the chainjit library. str(e) is the C++ message, "
      "'where: message' per problem (file:line:col for parsed text); "
      "e.diagnostics lists each problem as a dict.",
      PyExc_Exception, nullptr);
  divergedType = PyErr_NewExceptionWithDoc(
      "chainjit.TrainingDiverged", "The training loss became NaN or infinite.", errorType,
      nullptr);
  m.add_object("Error", py::handle(errorType));
  m.add_object("TrainingDiverged", py::handle(divergedType));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const runtime::train::TrainingDiverged &e) {
      raise(divergedType, e);
    } catch (const Error &e) {
      raise(errorType, e);
    }
  });
}

} // namespace chainjit::python
