// Functions and scans (ir/Function.h, ir/Scan.h): a body built as a Graph
// once, called or looped over a time axis many times.
#include "Bindings.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Scan.h"

#include <pybind11/stl.h>

namespace chainjit::python {

namespace {

// pybind11 holders cannot be const-qualified; the library takes
// shared_ptr<const Function>, to which this converts.
using FunctionPtr = std::shared_ptr<ir::Function>;

// The one graph that all `groups` of values belong to (`fallback` when they
// are all empty); values of two graphs are an error naming `what`.
GraphPtr graphOf(const std::vector<const std::vector<ValueRef> *> &groups,
                 const GraphPtr &fallback, const std::string &what) {
  GraphPtr g = fallback;
  for (const auto *group : groups)
    for (const ValueRef &v : *group) {
      if (g && v.graph != g)
        throw Error(what + ": the values belong to different graphs");
      g = v.graph;
    }
  if (!g)
    throw Error(what + ": no values and no graph= to add to");
  return g;
}

std::vector<ir::Value> values(const std::vector<ValueRef> &refs) {
  std::vector<ir::Value> out;
  for (const ValueRef &r : refs)
    out.push_back(r.value());
  return out;
}

std::vector<ValueRef> refs(const GraphPtr &g, const std::vector<ir::Value> &vs) {
  std::vector<ValueRef> out;
  for (const ir::Value &v : vs)
    out.push_back({g, v.id()});
  return out;
}

} // namespace

void bindFunctions(py::module_ &m) {
  py::class_<ir::Function, FunctionPtr>(
      m, "Function",
      "A graph fragment defined once (ir::Function): the body's inputs are its parameters, "
      "its outputs its results.")
      .def(py::init([](const std::string &name, const GraphPtr &body) {
             return std::make_shared<ir::Function>(name, ir::Graph(*body));
           }),
           py::arg("name"), py::arg("body"),
           "Checks the body (no params, at least one output) and copies it.")
      .def_property_readonly("name", &ir::Function::name)
      .def_property_readonly("arity", &ir::Function::arity)
      .def_property_readonly("num_results", &ir::Function::numResults)
      .def("__str__", [](const ir::Function &f) { return ir::printFunction(f); })
      .def("__repr__", [](const ir::Function &f) {
        return "<chainjit.Function " + f.name() + " of " + std::to_string(f.arity()) +
               " parameters>";
      });

  m.def("call",
        [](const FunctionPtr &f, const std::vector<ValueRef> &args, const std::string &prefix,
           const GraphPtr &graph) {
          GraphPtr g = graphOf({&args}, graph, "call of '" + f->name() + "'");
          return refs(g, ir::call(*g, *f, values(args), prefix));
        },
        py::arg("function"), py::arg("args"), py::arg("prefix") = "",
        py::arg("graph") = GraphPtr(),
        "Inlines the function's body with args for its parameters; returns its results.");

  m.def("scan",
        [](const FunctionPtr &body, const std::vector<ValueRef> &carries,
           const std::vector<ValueRef> &sequences, const std::vector<ValueRef> &invariants,
           bool reverse, int64_t length) {
          GraphPtr g = graphOf({&carries, &sequences, &invariants}, GraphPtr(),
                               "scan of '" + body->name() + "'");
          return refs(g, ir::scan(body, values(carries), values(sequences), values(invariants),
                                  reverse, length));
        },
        py::arg("body"), py::arg("carries"), py::arg("sequences") = std::vector<ValueRef>{},
        py::arg("invariants") = std::vector<ValueRef>{}, py::arg("reverse") = false,
        py::arg("length") = 0,
        "Loops body over the leading axis of the sequences: returns the final carries, then "
        "each per-step result stacked [T, ...].");

  m.def("parse_functions",
        [](const std::string &text, const std::string &filename) {
          ir::FunctionLibrary library = ir::parseFunctions(text, filename);
          std::vector<FunctionPtr> out;
          for (const ir::Function &f : library.functions())
            out.push_back(std::make_shared<ir::Function>(f));
          return out;
        },
        py::arg("text"), py::arg("filename") = "<input>",
        "The `func` definitions of .cj text, in order.");
}

} // namespace chainjit::python
