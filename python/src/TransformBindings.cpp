// Derivatives (compiler/Autodiff.h), mode expansion and batch size
// (compiler/Passes.h, runtime/train/ModelGraphs.h), and the chain
// optimizer's cost report (compiler/CostReport.h) as text, JSON or DOT.
#include "Bindings.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <pybind11/stl.h>

namespace chainjit::python {

namespace {

GraphPtr share(ir::Graph g) { return std::make_shared<ir::Graph>(std::move(g)); }

compiler::JacobianMode jacobianMode(const std::string &mode) {
  if (mode == "forward")
    return compiler::JacobianMode::Forward;
  if (mode == "reverse")
    return compiler::JacobianMode::Reverse;
  if (mode == "optimal")
    return compiler::JacobianMode::Optimal;
  throw Error("unknown jacobian mode '" + mode + "' (expected forward, reverse or optimal)");
}

compiler::Mode expandMode(const std::string &mode) {
  if (mode == "train")
    return compiler::Mode::Train;
  if (mode == "eval")
    return compiler::Mode::Eval;
  throw Error("unknown mode '" + mode + "' (expected train or eval)");
}

std::string joined(const std::vector<std::string> &names) {
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "" : ",") + n;
  return s;
}

// The report `chainjit cost` prints for the same arguments.
std::string costReport(const ir::Graph &g, const std::string &of,
                       const std::vector<std::string> &wrt, const std::string &format,
                       std::optional<double> memoryLimit, bool hessian,
                       const std::string &expand, bool recompute) {
  if (format != "text" && format != "json" && format != "dot")
    throw Error("unknown cost report format '" + format + "' (expected text, json or dot)");
  ir::Graph expanded = compiler::expandModes(g, expandMode(expand));
  compiler::GraphChain gc;
  std::string title;
  if (hessian) {
    if (wrt.size() != 1)
      throw Error("cost with hessian=True takes one wrt value");
    ir::Graph gg = compiler::grad(expanded, of, wrt);
    gc = compiler::extractChain(gg, "grad." + wrt[0], wrt);
    title = "d2 " + of + " / d " + wrt[0] + "2 (the Jacobian of the gradient) in " + g.name();
  } else {
    gc = compiler::extractChain(expanded, of, wrt);
    title = "d " + of + " / d " + joined(wrt) + " in " + g.name();
  }
  compiler::ChainCostSummary summary = compiler::summarizeChain(gc.chain, memoryLimit, recompute);
  compiler::CostReportInput in{title, &gc.chain, &summary, memoryLimit};
  if (format == "json")
    return compiler::costReportJson(in);
  if (format == "dot")
    return compiler::planDot(gc.chain, summary.optimum);
  return compiler::costReportText(in);
}

} // namespace

void bindTransforms(py::module_ &m) {
  using Names = std::vector<std::string>;
  m.def("_grad",
        [](const ir::Graph &g, const std::string &of, const Names &wrt, bool simplify) {
          return share(compiler::grad(g, of, wrt, simplify));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"), py::arg("simplify") = true);
  m.def("_jvp",
        [](const ir::Graph &g, const std::string &of, const Names &wrt, int64_t k) {
          return share(compiler::jvp(g, of, wrt, k));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"), py::arg("directions") = 1);
  m.def("_vjp",
        [](const ir::Graph &g, const std::string &of, const Names &wrt, int64_t k) {
          return share(compiler::vjp(g, of, wrt, k));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"), py::arg("directions") = 1);
  m.def("_jacobian",
        [](const ir::Graph &g, const std::string &of, const std::string &wrt,
           const std::string &mode, bool simplify) {
          return share(compiler::jacobian(g, of, wrt, jacobianMode(mode), simplify));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"), py::arg("mode") = "optimal",
        py::arg("simplify") = true);
  m.def("_hessian",
        [](const ir::Graph &g, const std::string &of, const std::string &wrt,
           const std::string &mode) {
          return share(compiler::hessian(g, of, wrt, jacobianMode(mode)));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"), py::arg("mode") = "optimal");
  m.def("_hvp",
        [](const ir::Graph &g, const std::string &of, const Names &wrt) {
          return share(compiler::hvp(g, of, wrt));
        },
        py::arg("graph"), py::arg("of"), py::arg("wrt"));
  m.def("_cost", &costReport, py::arg("graph"), py::arg("of"), py::arg("wrt"),
        py::arg("format") = "text", py::arg("memory_limit") = py::none(),
        py::arg("hessian") = false, py::arg("expand") = "eval", py::arg("recompute") = true);
  m.def("expand_modes",
        [](const ir::Graph &g, const std::string &mode) {
          return share(compiler::expandModes(g, expandMode(mode)));
        },
        py::arg("graph"), py::arg("mode"),
        "The graph with dropout and batch_norm expanded for 'train' or 'eval'.");
  m.def("with_batch_size",
        [](const ir::Graph &g, int64_t batch) {
          return share(runtime::train::withBatchSize(g, runtime::train::graphBatchSize(g), batch));
        },
        py::arg("graph"), py::arg("batch"),
        "The graph with every input whose first dimension is the graph's batch resized.");
  m.def("batch_size", [](const ir::Graph &g) { return runtime::train::graphBatchSize(g); },
        py::arg("graph"), "The first dimension of the first input of rank >= 1 (0: none).");
  m.def("with_outputs",
        [](const ir::Graph &g, const Names &names) {
          return share(runtime::train::withOutputs(g, names));
        },
        py::arg("graph"), py::arg("names"), "A graph computing only these outputs.");
}

} // namespace chainjit::python
