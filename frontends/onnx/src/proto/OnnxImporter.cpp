// The driver of ONNX import: reads the ModelProto, turns the graph's inputs
// into chainjit inputs, keeps initializers and Constant outputs as pending
// constants (materialized as params or consts at their first use as a
// value, so shape arguments never become graph values), converts the nodes
// in order with the converters of OnnxMathOps/OnnxNNOps/OnnxShapeOps, and
// checks the graph's outputs against the types the model declares.
#include "OnnxNode.h"

#include "chainjit/frontends/Onnx.h"
#include "chainjit/ir/Verifier.h"

#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

namespace chainjit::frontends {

namespace detail {

namespace {

// A valid chainjit value name for an ONNX name ("/fc1/Gemm_output_0",
// "input.1", "onnx::Gemm_7"): other characters become '_', and a leading
// digit or dot gets a '_' before it.
std::string sanitizeName(const std::string &onnxName) {
  std::string s;
  for (char ch : onnxName) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.';
    s += ok ? ch : '_';
  }
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
    s = "_" + s;
  return s;
}

} // namespace

// One ONNX value name: a graph value, or a constant not yet in the graph.
struct Entry {
  std::optional<ir::NodeId> node;
  std::optional<OnnxConstant> constant;
  bool initializer = false;
  std::string unsupported; // non-empty: an output chainjit does not compute ("is output 1 of ...")
};

class Importer {
public:
  Importer(const onnx::ModelProto &model, std::string filename, const OnnxImportOptions &options)
      : model_(model), filename_(std::move(filename)), options_(options) {}

  OnnxImport run();

  [[noreturn]] void fail(const std::string &message) const {
    throw Error(message, SourceLoc{filename_});
  }
  ir::Graph &graph() { return result_.graph; }
  int64_t opset() const { return result_.opsetVersion; }

  Entry &entry(const std::string &name, const NodeContext *ctx) {
    auto it = values_.find(name);
    auto where = [&] { return ctx ? ctx->describe() + ": input '" + name + "'" : "'" + name + "'"; };
    if (it == values_.end())
      fail(where() + " is not defined before its use (the nodes of an ONNX graph must be "
                     "in topological order)");
    if (!it->second.unsupported.empty())
      fail(where() + " " + it->second.unsupported);
    return it->second;
  }

  ir::Value value(const std::string &name, bool trainable, const NodeContext *ctx) {
    Entry &e = entry(name, ctx);
    if (!e.node) {
      const OnnxConstant &c = *e.constant;
      std::string what = ctx ? ctx->describe() + ": input '" + name + "'" : "'" + name + "'";
      ir::Tensor t;
      try {
        t = c.toTensor(what);
      } catch (const Error &err) {
        fail(err.diagnostics().front().message);
      }
      if (e.initializer && ir::isFloat(t.dtype()) && !options_.initializersAsConsts) {
        std::string pname = uniqueName(name);
        ir::Attrs attrs;
        if (!trainable)
          attrs.set("trainable", false);
        e.node = graph().addParam(pname, t.type(), attrs);
        result_.params.emplace(pname, std::move(t));
      } else {
        std::string cname = e.initializer ? uniqueName(name) : std::string{};
        e.node = graph().addConst(std::move(t), cname);
      }
    }
    return ir::Value(graph(), *e.node);
  }

  const OnnxConstant *constant(const std::string &name, const NodeContext *ctx) {
    Entry &e = entry(name, ctx);
    return e.constant ? &*e.constant : nullptr;
  }

  void define(const std::string &name, Entry e, const NodeContext &ctx) {
    if (name.empty())
      return;
    if (values_.count(name))
      fail(ctx.describe() + ": output '" + name + "' is already defined (ONNX values are "
                            "assigned once)");
    values_.emplace(name, std::move(e));
  }

  std::string uniqueName(const std::string &onnxName) {
    std::string base = sanitizeName(onnxName), name = base;
    for (int k = 2; graph().find(name); ++k)
      name = base + "_" + std::to_string(k);
    return name;
  }

private:
  void addInputs();
  ir::TensorType declaredType(const onnx::ValueInfoProto &v, const std::string &role);
  void convertNodes();
  void addOutputs();

  const onnx::ModelProto &model_;
  std::string filename_;
  const OnnxImportOptions &options_;
  OnnxImport result_;
  std::unordered_map<std::string, Entry> values_;
};

ir::TensorType Importer::declaredType(const onnx::ValueInfoProto &v, const std::string &role) {
  std::string what = role + " '" + v.name() + "'";
  if (!v.has_type() || !v.type().has_tensor_type())
    fail(what + " is not a tensor (sequences, maps and optionals are not supported)");
  const onnx::TypeProto::Tensor &tt = v.type().tensor_type();
  std::optional<ir::DType> dt = dtypeOf(tt.elem_type());
  if (!dt)
    fail(what + " has element type " + onnxTypeName(tt.elem_type()) +
         ", which is not supported (FLOAT, DOUBLE, INT32, INT64 and BOOL are)");
  if (!tt.has_shape())
    fail(what + " has no shape: chainjit needs static shapes (export with fixed input sizes)");
  ir::TensorType type{*dt, {}};
  for (int a = 0; a < tt.shape().dim_size(); ++a) {
    const auto &d = tt.shape().dim(a);
    if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        fail(what + ": dimension " + std::to_string(a) + " is negative (" +
             std::to_string(d.dim_value()) + ")");
      type.shape.push_back(d.dim_value());
    } else if (d.has_dim_param() && options_.dimValues.count(d.dim_param())) {
      type.shape.push_back(options_.dimValues.at(d.dim_param()));
    } else if (d.has_dim_param()) {
      fail(what + " has the dynamic dimension '" + d.dim_param() + "' at axis " +
           std::to_string(a) + ": chainjit needs static shapes; give it a value (chainjit "
           "import --dim " + d.dim_param() + "=N, or dim_values in Python) or export with "
           "fixed sizes and no dynamic_axes");
    } else {
      fail(what + " has an unknown dimension at axis " + std::to_string(a) +
           ": chainjit needs static shapes");
    }
  }
  if (!ir::checkedByteSize(type))
    fail(what + ": the shape " + ir::shapeStr(type.shape) + " is too large");
  return type;
}

void Importer::addInputs() {
  const onnx::GraphProto &g = model_.graph();
  std::set<std::string> initializerNames;
  for (int i = 0; i < g.initializer_size(); ++i) {
    const onnx::TensorProto &t = g.initializer(i);
    if (t.name().empty())
      fail("initializer " + std::to_string(i) + " has no name");
    Entry e;
    try {
      e.constant = readTensor(t, "initializer '" + t.name() + "'");
    } catch (const Error &err) {
      fail(err.diagnostics().front().message);
    }
    e.initializer = true;
    if (!initializerNames.insert(t.name()).second)
      fail("initializer '" + t.name() + "' is defined twice");
    values_.emplace(t.name(), std::move(e));
  }
  if (g.sparse_initializer_size() > 0)
    fail("sparse initializers are not supported");
  for (const onnx::ValueInfoProto &v : g.input()) {
    if (initializerNames.count(v.name())) // older exporters list initializers as inputs
      continue;
    if (values_.count(v.name()))
      fail("graph input '" + v.name() + "' is listed twice");
    ir::TensorType type = declaredType(v, "graph input");
    Entry e;
    e.node = graph().addInput(uniqueName(v.name()), type);
    values_.emplace(v.name(), std::move(e));
  }
}

void Importer::convertNodes() {
  const onnx::GraphProto &g = model_.graph();
  const ConverterTable &table = converters();
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto &n = g.node(i);
    NodeContext ctx(*this, n, i);
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      ctx.fail("the operator domain '" + n.domain() + "' is not supported (only the default "
               "ONNX domain is)");
    auto it = table.find(n.op_type());
    if (it == table.end())
      ctx.fail("the operator " + n.op_type() + " is not supported (docs/onnx.md lists the "
               "supported operators)");
    try {
      it->second(ctx);
    } catch (const Error &err) {
      // An Error of the importer names the node already; one from the
      // builder (a type rule) gets the node's name in front.
      const std::string &msg = err.diagnostics().front().message;
      if (msg.rfind("node ", 0) == 0 || !err.diagnostics().front().loc.file.empty())
        throw;
      ctx.fail(msg);
    }
    for (int o = 0; o < n.output_size(); ++o)
      if (!n.output(o).empty() && !values_.count(n.output(o)))
        ctx.fail("output " + std::to_string(o) + " ('" + n.output(o) + "') is not produced");
  }
}

void Importer::addOutputs() {
  const onnx::GraphProto &g = model_.graph();
  if (g.output_size() == 0)
    fail("the graph has no outputs");
  for (const onnx::ValueInfoProto &v : g.output()) {
    ir::Value out = value(v.name(), true, nullptr);
    ir::TensorType got = out.type();
    // The declared type, where the model gives one, must be what the
    // converted graph computes.
    if (v.has_type() && v.type().has_tensor_type()) {
      const auto &tt = v.type().tensor_type();
      std::optional<ir::DType> dt = dtypeOf(tt.elem_type());
      if (tt.elem_type() != 0 && dt && *dt != got.dtype)
        fail("graph output '" + v.name() + "' is declared " + onnxTypeName(tt.elem_type()) +
             " but computes " + got.str());
      if (tt.has_shape()) {
        bool same = tt.shape().dim_size() == got.rank();
        for (int a = 0; same && a < tt.shape().dim_size(); ++a)
          if (tt.shape().dim(a).has_dim_value() && tt.shape().dim(a).dim_value() != got.shape[a])
            same = false;
        if (!same)
          fail("graph output '" + v.name() + "' computes " + got.str() +
               ", which differs from the shape the model declares");
      }
    }
    const ir::Node &node = graph().node(out.id());
    if (node.name.empty())
      graph().setNodeName(out.id(), uniqueName(v.name()));
    graph().addOutput(out.id());
  }
}

OnnxImport Importer::run() {
  result_.graph.setName(sanitizeName(model_.graph().name().empty() ? "onnx" : model_.graph().name()));
  for (const onnx::OperatorSetIdProto &o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      result_.opsetVersion = o.version();
  if (result_.opsetVersion == 0)
    fail("the model imports no opset of the default ONNX domain");
  addInputs();
  convertNodes();
  addOutputs();
  ir::verifyOrThrow(result_.graph);
  return std::move(result_);
}

// --- NodeContext ---

ir::Graph &NodeContext::graph() { return importer_.graph(); }
int64_t NodeContext::opset() const { return importer_.opset(); }

std::string NodeContext::describe() const {
  std::string s = "node " + std::to_string(index_);
  if (!node_.name().empty())
    s += " '" + node_.name() + "'";
  return s + " (" + node_.op_type() + ")";
}

void NodeContext::fail(const std::string &message) const {
  importer_.fail(describe() + ": " + message);
}

void NodeContext::checkAttributes(std::initializer_list<std::string_view> known) const {
  for (const onnx::AttributeProto &a : node_.attribute()) {
    bool ok = false;
    for (std::string_view k : known)
      ok = ok || a.name() == k;
    if (!ok)
      fail("the attribute '" + a.name() + "' is not supported");
  }
}

const onnx::AttributeProto *NodeContext::attribute(std::string_view name) const {
  for (const onnx::AttributeProto &a : node_.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

namespace {
const char *attrTypeName(const onnx::AttributeProto &a) {
  return onnx::AttributeProto::AttributeType_IsValid(a.type())
             ? onnx::AttributeProto::AttributeType_Name(a.type()).c_str()
             : "unknown";
}
} // namespace

int64_t NodeContext::intAttr(std::string_view name, int64_t def) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::INT)
    fail("the attribute '" + std::string(name) + "' must be an INT, not " + attrTypeName(*a));
  return a->i();
}

double NodeContext::floatAttr(std::string_view name, double def) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::FLOAT)
    fail("the attribute '" + std::string(name) + "' must be a FLOAT, not " + attrTypeName(*a));
  return a->f();
}

std::string NodeContext::stringAttr(std::string_view name, std::string def) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::STRING)
    fail("the attribute '" + std::string(name) + "' must be a STRING, not " + attrTypeName(*a));
  return a->s();
}

std::optional<ir::Ints> NodeContext::intsAttr(std::string_view name) const {
  const onnx::AttributeProto *a = attribute(name);
  if (!a)
    return std::nullopt;
  if (a->type() != onnx::AttributeProto::INTS)
    fail("the attribute '" + std::string(name) + "' must be INTS, not " + attrTypeName(*a));
  return ir::Ints(a->ints().begin(), a->ints().end());
}

ir::Ints NodeContext::intsAttr(std::string_view name, ir::Ints def) const {
  std::optional<ir::Ints> v = intsAttr(name);
  return v ? *v : def;
}

void NodeContext::requireIntAttr(std::string_view name, int64_t only,
                                 const std::string &why) const {
  int64_t v = intAttr(name, only);
  if (v != only)
    fail("the attribute " + std::string(name) + " = " + std::to_string(v) +
         " is not supported (only " + std::to_string(only) + ": " + why + ")");
}

bool NodeContext::hasInput(size_t i) const {
  return i < inputCount() && !node_.input(static_cast<int>(i)).empty();
}

void NodeContext::checkInputCount(size_t min, size_t max) const {
  size_t n = inputCount();
  while (n > 0 && node_.input(static_cast<int>(n - 1)).empty())
    --n;
  if (n < min || n > max)
    fail("has " + std::to_string(n) + " inputs, expected " +
         (min == max ? std::to_string(min)
                     : std::to_string(min) + " to " + std::to_string(max)));
  for (size_t i = 0; i < min; ++i)
    if (!hasInput(i))
      fail("the required input " + std::to_string(i) + " is missing");
}

ir::Value NodeContext::input(size_t i, bool trainable) {
  if (!hasInput(i))
    fail("the required input " + std::to_string(i) + " is missing");
  return importer_.value(node_.input(static_cast<int>(i)), trainable, this);
}

const OnnxConstant *NodeContext::constantInput(size_t i) const {
  if (!hasInput(i))
    return nullptr;
  return importer_.constant(node_.input(static_cast<int>(i)), this);
}

std::vector<int64_t> NodeContext::constantInts(size_t i, const std::string &what) const {
  const OnnxConstant *c = constantInput(i);
  if (!c)
    fail("the " + what + " (input " + std::to_string(i) + ") must be a constant: shapes "
         "computed at run time are not supported");
  if (!c->isInteger())
    fail("the " + what + " (input " + std::to_string(i) + ") must be integers, not " +
         onnxTypeName(c->onnxType));
  return c->ints;
}

ir::TensorType NodeContext::inputType(size_t i) {
  if (const OnnxConstant *c = constantInput(i))
    return ir::TensorType{*dtypeOf(c->onnxType), c->shape};
  return input(i).type();
}

void NodeContext::setOutput(size_t i, ir::Value v) {
  if (i >= static_cast<size_t>(node_.output_size()))
    return;
  Entry e;
  e.node = v.id();
  importer_.define(node_.output(static_cast<int>(i)), std::move(e), *this);
}

void NodeContext::setConstantOutput(size_t i, OnnxConstant c) {
  if (i >= static_cast<size_t>(node_.output_size()))
    return;
  Entry e;
  e.constant = std::move(c);
  importer_.define(node_.output(static_cast<int>(i)), std::move(e), *this);
}

void NodeContext::unsupportedOutputsFrom(size_t first, const std::string &why) {
  for (size_t o = first; o < static_cast<size_t>(node_.output_size()); ++o) {
    Entry e;
    e.unsupported = "is output " + std::to_string(o) + " of " + describe() +
                    ", which chainjit does not compute: " + why;
    importer_.define(node_.output(static_cast<int>(o)), std::move(e), *this);
  }
}

int64_t normalizeAxis(const NodeContext &ctx, int64_t axis, int64_t rank,
                      const std::string &what) {
  if (axis < -rank || axis >= rank)
    ctx.fail("the " + what + " " + std::to_string(axis) + " is out of range for rank " +
             std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

const ConverterTable &converters() {
  static const ConverterTable table = [] {
    ConverterTable t;
    addMathConverters(t);
    addNNConverters(t);
    addShapeConverters(t);
    addRecurrentConverters(t);
    return t;
  }();
  return table;
}

} // namespace detail

bool onnxImportAvailable() { return true; }

OnnxImport importOnnxBytes(std::string_view bytes, const std::string &filename,
                           const OnnxImportOptions &options) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw Error("the file is larger than 2 GiB, protobuf's limit", SourceLoc{filename});
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw Error("not a valid ONNX model: the protobuf data is malformed or truncated",
                SourceLoc{filename});
  if (!model.has_graph())
    throw Error("not a valid ONNX model: it has no graph", SourceLoc{filename});
  detail::Importer importer(model, filename, options);
  return importer.run();
}

OnnxImport importOnnx(const std::string &path, const OnnxImportOptions &options) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error("cannot open the file", SourceLoc{path});
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad())
    throw Error("cannot read the file", SourceLoc{path});
  return importOnnxBytes(bytes.str(), path, options);
}

} // namespace chainjit::frontends
