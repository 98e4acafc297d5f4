// compile(graph, backend) as a Python object that takes and returns NumPy
// arrays. On the JIT the compiled function is called on the arrays' own
// memory (compiler/Jit.h's buffer ABI): an input that is C-contiguous and of
// the declared dtype is read where it is, outputs are written straight into
// new arrays, and params live in arrays this object owns, updated in place.
// The interpreter backend copies into tensors (runtime::Executable). Calls
// release the GIL while the graph runs. A batch of another size compiles the
// graph at that size once (runtime::train::withBatchSize) and keeps it.
#include "Bindings.h"

#include "chainjit/compiler/Jit.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <pybind11/stl.h>

#include <cstring>

namespace chainjit::python {

namespace {

std::string outputName(const ir::Graph &g, ir::NodeId id) {
  const std::string &n = g.node(id).name;
  return n.empty() ? "node #" + std::to_string(id) : n;
}

std::string nameList(const ir::Graph &g, const std::vector<ir::NodeId> &ids) {
  std::string s;
  for (ir::NodeId id : ids)
    s += (s.empty() ? "%" : ", %") + g.node(id).name;
  return s.empty() ? "none" : s;
}

class Program {
public:
  Program(const ir::Graph &g, const std::string &backend, const std::string &mode,
          compiler::JitOptions options, const py::object &params)
      : backend_(runtime::parseBackend(backend)), options_(std::move(options)) {
    // Dropout and batch_norm are expanded for the mode (None: left as they are).
    if (mode == "train")
      base_ = compiler::expandModes(g, compiler::Mode::Train);
    else if (mode == "eval")
      base_ = compiler::expandModes(g, compiler::Mode::Eval);
    else if (mode.empty())
      base_ = g;
    else
      throw Error("unknown mode '" + mode + "' (expected train, eval or None)");
    ir::verifyOrThrow(base_);
    baseBatch_ = runtime::train::graphBatchSize(base_);
    for (ir::NodeId id : base_.inputs())
      if (base_.type(id).rank() >= 1) {
        batchInput_ = base_.node(id).name;
        break;
      }
    for (ir::NodeId id : base_.params()) {
      const std::string &name = base_.node(id).name;
      params_.emplace(name, arrayFromTensor(runtime::initialParamValue(base_, id)));
      paramOrder_.push_back(name);
    }
    variant(baseBatch_);
    if (!params.is_none())
      setParams(params);
  }

  py::dict call(const py::dict &inputs) {
    const Variant &v = variant(batchOf(inputs));
    checkNames(v.graph, inputs);
    if (backend_ == runtime::Backend::Jit)
      return callJit(v, inputs);
    return callInterp(v, inputs);
  }

  py::dict params() const {
    py::dict d;
    for (const std::string &n : paramOrder_)
      d[py::str(n)] = params_.at(n);
    return d;
  }

  void setParams(const py::object &source) {
    if (py::isinstance<py::str>(source) || py::hasattr(source, "__fspath__")) {
      std::string path = py::str(py::module_::import("os").attr("fspath")(source));
      runtime::Weights w = runtime::loadWeights(path);
      runtime::Bindings b = runtime::bindParams(base_, w.params, path);
      for (auto &[name, t] : b)
        std::memcpy(params_.at(name).mutable_data(), t.data(), t.byteSize());
      return;
    }
    for (auto [k, value] : source.cast<py::dict>()) {
      std::string name = k.cast<std::string>();
      auto it = params_.find(name);
      if (it == params_.end())
        throw Error("no param named %" + name + " (params: " + nameList(base_, base_.params()) + ")");
      ir::TensorType type = base_.type(base_.lookup(name));
      py::array a = bufferOfType(value, type, "param %" + name);
      if (it->second.nbytes())
        std::memcpy(it->second.mutable_data(), a.data(), it->second.nbytes());
    }
  }

  void saveParams(const std::string &path) const {
    runtime::Weights w;
    for (const std::string &n : paramOrder_)
      w.params[n] = tensorOfType(params_.at(n), base_.type(base_.lookup(n)), "param %" + n);
    runtime::saveWeightsNpz(path, w);
  }

  GraphPtr graph() const { return std::make_shared<ir::Graph>(base_); }
  const std::string &graphName() const { return base_.name(); }
  std::string backend() const { return backend_ == runtime::Backend::Jit ? "jit" : "interp"; }
  std::vector<std::string> inputNames() const { return names(base_.inputs()); }
  std::vector<std::string> outputNames() const {
    std::vector<std::string> r;
    for (ir::NodeId id : base_.outputs())
      r.push_back(outputName(base_, id));
    return r;
  }
  std::vector<int64_t> batchSizes() const {
    std::vector<int64_t> r;
    for (const auto &[b, v] : variants_)
      r.push_back(b);
    return r;
  }
  const std::map<std::string, uintptr_t> &lastInputAddresses() const { return lastAddresses_; }
  // Each compiled batch size's profile (compile(profile=True)).
  py::list profiles() const {
    py::list r;
    for (const auto &[b, v] : variants_)
      if (v->compiled)
        if (compiler::GraphProfile p = v->compiled->profile(); !p.kernels.empty())
          r.append(profileDict(b, p));
    return r;
  }

private:
  struct Variant {
    ir::Graph graph;
    std::unique_ptr<compiler::CompiledGraph> compiled;   // jit
    std::unique_ptr<runtime::Executable> interp;         // interp
  };

  std::vector<std::string> names(const std::vector<ir::NodeId> &ids) const {
    std::vector<std::string> r;
    for (ir::NodeId id : ids)
      r.push_back(base_.node(id).name);
    return r;
  }

  // The batch the inputs have: the first dimension of the batch input when
  // it has the declared rank, else the graph's own.
  int64_t batchOf(const py::dict &inputs) const {
    if (baseBatch_ <= 0 || !inputs.contains(batchInput_))
      return baseBatch_;
    py::object x = inputs[py::str(batchInput_)];
    if (!py::hasattr(x, "shape"))
      return baseBatch_;
    py::tuple shape = x.attr("shape");
    if (static_cast<int64_t>(shape.size()) != base_.type(base_.lookup(batchInput_)).rank() ||
        shape.size() == 0)
      return baseBatch_;
    int64_t b = shape[0].cast<int64_t>();
    return b > 0 ? b : baseBatch_;
  }

  const Variant &variant(int64_t batch) {
    auto it = variants_.find(batch);
    if (it != variants_.end())
      return *it->second;
    auto v = std::make_unique<Variant>();
    v->graph = batch == baseBatch_ ? base_ : runtime::train::withBatchSize(base_, baseBatch_, batch);
    {
      py::gil_scoped_release release;
      if (backend_ == runtime::Backend::Jit)
        v->compiled = compiler::compileGraph(v->graph, options_);
      else
        v->interp = runtime::makeExecutable(v->graph, runtime::Backend::Interp);
    }
    return *variants_.emplace(batch, std::move(v)).first->second;
  }

  void checkNames(const ir::Graph &g, const py::dict &inputs) const {
    for (auto [k, value] : inputs) {
      std::string name = k.cast<std::string>();
      std::optional<ir::NodeId> id = g.find(name);
      if (id && g.node(*id).kind == ir::OpKind::Input)
        continue;
      if (id && g.node(*id).kind == ir::OpKind::Param)
        throw Error("%" + name + " is a param, not an input: set it with "
                    "exe.set_params({'" + name + "': array}) or exe.params['" + name + "'][...] = array");
      throw Error("no input named %" + name + " (inputs: " + nameList(g, g.inputs()) + ")");
    }
    for (ir::NodeId id : g.inputs())
      if (!inputs.contains(g.node(id).name))
        throw Error("input %" + g.node(id).name + " (" + g.type(id).str() + ") is not given");
  }

  py::dict callJit(const Variant &v, const py::dict &inputs) {
    std::vector<py::array> keep; // the arrays whose memory the call uses
    std::vector<void *> buffers;
    std::vector<std::pair<std::string, py::array>> outputs;
    lastAddresses_.clear();
    for (const compiler::ArgumentSpec &a : v.compiled->arguments()) {
      switch (a.role) {
      case compiler::ArgumentRole::Input: {
        py::array buf = bufferOfType(inputs[py::str(a.name)], a.type, "input %" + a.name);
        buffers.push_back(const_cast<void *>(buf.data()));
        lastAddresses_[a.name] = reinterpret_cast<uintptr_t>(buf.data());
        keep.push_back(std::move(buf));
        break;
      }
      case compiler::ArgumentRole::Param:
        buffers.push_back(const_cast<void *>(params_.at(a.name).data()));
        break;
      case compiler::ArgumentRole::Output: {
        py::array out(numpyDType(a.type.dtype), a.type.shape);
        buffers.push_back(out.mutable_data());
        outputs.emplace_back(outputName(v.graph, a.node), out);
        break;
      }
      case compiler::ArgumentRole::Update:
        // The param's own buffer: the ABI allows in-place updates.
        buffers.push_back(params_.at(a.name).mutable_data());
        break;
      }
    }
    {
      py::gil_scoped_release release;
      v.compiled->call(buffers.data());
    }
    py::dict r;
    for (auto &[n, a] : outputs)
      r[py::str(n)] = a;
    return r;
  }

  py::dict callInterp(const Variant &v, const py::dict &inputs) {
    runtime::Bindings b;
    for (ir::NodeId id : v.graph.inputs()) {
      const std::string &n = v.graph.node(id).name;
      b[n] = tensorOfType(inputs[py::str(n)], v.graph.type(id), "input %" + n);
    }
    for (const std::string &n : paramOrder_)
      b[n] = tensorOfType(params_.at(n), v.graph.type(v.graph.lookup(n)), "param %" + n);
    runtime::EvalResult result;
    {
      py::gil_scoped_release release;
      result = v.interp->run(b);
    }
    for (auto &[n, t] : result.updatedParams)
      std::memcpy(params_.at(n).mutable_data(), t.data(), t.byteSize());
    py::dict r;
    for (size_t i = 0; i < result.outputs.size(); ++i)
      r[py::str(outputName(v.graph, v.graph.outputs()[i]))] = arrayFromTensor(result.outputs[i]);
    return r;
  }

  runtime::Backend backend_;
  compiler::JitOptions options_;
  ir::Graph base_;
  int64_t baseBatch_ = 0;
  std::string batchInput_;
  std::map<int64_t, std::unique_ptr<Variant>> variants_;
  std::map<std::string, py::array> params_;
  std::vector<std::string> paramOrder_;
  std::map<std::string, uintptr_t> lastAddresses_;
};

} // namespace

void bindExecutable(py::module_ &m) {
  py::class_<Program>(m, "Executable",
                      "A graph prepared for repeated runs on NumPy arrays (chainjit.compile).")
      .def(py::init([](const ir::Graph &g, const std::string &backend, const py::object &mode,
                       const py::object &params, bool cache, const std::string &cacheDir, bool fuse,
                       bool checkNumerics, int64_t blasThreshold, bool profile) {
             compiler::JitOptions o;
             o.useCache = cache;
             o.cacheDir = cacheDir;
             o.fuse = fuse;
             o.checkNumerics = checkNumerics;
             o.blasThreshold = blasThreshold;
             o.profile = profile;
             return std::make_unique<Program>(
                 g, backend, mode.is_none() ? std::string() : mode.cast<std::string>(), o, params);
           }),
           py::arg("graph"), py::arg("backend") = "jit", py::arg("mode") = "eval",
           py::arg("params") = py::none(), py::arg("cache") = true, py::arg("cache_dir") = "",
           py::arg("fuse") = true, py::arg("check_numerics") = false,
           py::arg("blas_threshold") = compiler::JitOptions{}.blasThreshold,
           py::arg("profile") = false)
      .def("__repr__",
           [](const Program &p) {
             return "<chainjit.Executable '" + p.graphName() + "' on " + p.backend() + ">";
           })
      .def("run", &Program::call, py::arg("inputs"),
           "Runs on a dict of input arrays; returns the outputs by name, in order.")
      .def("__call__", [](Program &p, const py::kwargs &inputs) { return p.call(inputs); })
      .def_property_readonly("params", &Program::params,
                             "The params by name: arrays the compiled code reads (and updates) "
                             "in place; write into them to change a param.")
      .def("profiles", &Program::profiles,
           "With compile(..., profile=True) on the jit backend: per batch size compiled so far a "
           "dict (batch, calls, seconds, kernels: a dict per kernel of the plan with its "
           "calls and seconds, table: the text `chainjit run --profile` prints); else [].")
      .def("set_params", &Program::setParams, py::arg("params"),
           "Copies params from a dict of arrays or a weights file (.npz or checkpoint).")
      .def("save_params", &Program::saveParams, py::arg("path"),
           "Writes the params as a NumPy .npz archive.")
      .def_property_readonly("graph", &Program::graph)
      .def_property_readonly("backend", &Program::backend)
      .def_property_readonly("input_names", &Program::inputNames)
      .def_property_readonly("output_names", &Program::outputNames)
      .def_property_readonly("batch_sizes", &Program::batchSizes,
                             "The batch sizes prepared so far.")
      .def_property_readonly("last_input_addresses", &Program::lastInputAddresses,
                             "JIT: the address of each input buffer the last call read.");
}

} // namespace chainjit::python
