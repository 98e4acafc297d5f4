// Graphs, values and ops: the builder API (ir/Builder.h), the text form
// (ir/Parser.h, ir/Printer.h) and the renderings (ir/Dot.h, ir/Json.h).
// Every op of ops.def is reachable through apply(), whose attributes are
// converted by the kinds the op's definition declares; op_specs() lists the
// definitions so that chainjit/__init__.py can make a function per op.
#include "Bindings.h"

#include "chainjit/ir/Dot.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Json.h"
#include "chainjit/ir/Op.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Verifier.h"

#include <pybind11/stl.h>

namespace chainjit::python {

namespace {

std::string familyName(ir::OpFamily f) {
  switch (f) {
  case ir::OpFamily::Source: return "source";
  case ir::OpFamily::Elementwise: return "elementwise";
  case ir::OpFamily::Shape: return "shape";
  case ir::OpFamily::LinAlg: return "linalg";
  case ir::OpFamily::Reduce: return "reduce";
  case ir::OpFamily::Loss: return "loss";
  case ir::OpFamily::NN: return "nn";
  case ir::OpFamily::Index: return "index";
  case ir::OpFamily::Sparse: return "sparse";
  case ir::OpFamily::Control: return "control";
  }
  return "other";
}

ir::OpKind opKindOf(const std::string &name) {
  if (auto k = ir::parseOpKind(name))
    return *k;
  throw Error("unknown op '" + name + "'");
}

// A Python value as an attribute of the kind the op declares (or, for a
// name the op does not have, of the kind it looks like, so that the op's
// own check reports the unknown attribute).
ir::AttrValue toAttr(const std::string &op, const std::string &name, const py::handle &v,
                     std::optional<ir::AttrKind> kind) {
  std::string what = op + ": attribute '" + name + "'";
  auto ints = [&] {
    ir::Ints r;
    for (py::handle e : v)
      r.push_back(e.cast<int64_t>());
    return r;
  };
  auto floats = [&] {
    ir::Floats r;
    for (py::handle e : v)
      r.push_back(e.cast<double>());
    return r;
  };
  try {
    if (!kind) {
      if (py::isinstance<py::bool_>(v))
        kind = ir::AttrKind::Bool;
      else if (py::isinstance<py::int_>(v))
        kind = ir::AttrKind::Int;
      else if (py::isinstance<py::float_>(v))
        kind = ir::AttrKind::Float;
      else if (py::isinstance<py::str>(v))
        kind = ir::AttrKind::String;
      else
        kind = ir::AttrKind::Ints;
    }
    switch (*kind) {
    case ir::AttrKind::Bool: return v.cast<bool>();
    case ir::AttrKind::Int:
      if (py::isinstance<py::float_>(v))
        throw Error(what + " takes an integer, got " + py::repr(v).cast<std::string>());
      return v.cast<int64_t>();
    case ir::AttrKind::Float: return v.cast<double>();
    case ir::AttrKind::String: return v.cast<std::string>();
    case ir::AttrKind::Ints:
      if (py::isinstance<py::int_>(v))
        return ir::Ints{v.cast<int64_t>()};
      return ints();
    case ir::AttrKind::Floats:
      if (py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v))
        return ir::Floats{v.cast<double>()};
      return floats();
    case ir::AttrKind::DType: return toDType(v, what);
    }
  } catch (const py::cast_error &) {
    throw Error(what + " takes " + ir::attrKindPhrase(*kind) + ", got " +
                py::repr(v).cast<std::string>());
  }
  throw Error(what + ": unsupported value");
}

ir::Attrs toAttrs(ir::OpKind kind, const py::dict &attrs) {
  const ir::OpDef &def = ir::opDef(kind);
  std::string op(ir::opName(kind));
  ir::Attrs r;
  for (auto [k, v] : attrs) {
    if (v.is_none())
      continue; // None: the attribute's default
    std::string name = k.cast<std::string>();
    const ir::AttrSpec *spec = def.findAttr(name);
    r.set(name, toAttr(op, name, v, spec ? std::optional(spec->kind) : std::nullopt));
  }
  return r;
}

py::object fromAttr(const ir::AttrValue &v) {
  return std::visit(
      [](const auto &x) -> py::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, ir::DType>)
          return py::str(std::string(ir::dtypeName(x)));
        else if constexpr (std::is_same_v<T, ir::Ints> || std::is_same_v<T, ir::Floats>)
          return py::tuple(py::cast(x));
        else
          return py::cast(x);
      },
      v);
}

py::tuple shapeTuple(const ir::Shape &s) { return py::tuple(py::cast(s)); }

ir::Shape toShape(const py::handle &shape) {
  if (py::isinstance<py::int_>(shape))
    return {shape.cast<int64_t>()};
  return shape.cast<ir::Shape>();
}

ValueRef wrap(const GraphPtr &g, ir::Value v) { return {g, v.id()}; }

// The other operand of a Python operator: a Value, or a number or array that
// becomes a constant (numbers take the Value's dtype).
ir::Value operandLike(const ValueRef &like, const py::handle &other) {
  if (py::isinstance<ValueRef>(other)) {
    const ValueRef &o = other.cast<const ValueRef &>();
    if (o.graph != like.graph)
      throw Error("the operands belong to different graphs");
    return o.value();
  }
  ir::Graph &g = *like.graph;
  if (py::isinstance<py::float_>(other) || py::isinstance<py::int_>(other) ||
      py::isinstance<py::bool_>(other))
    return ir::scalar(g, other.cast<double>(), like.value().dtype());
  if (py::isinstance<py::array>(other))
    return ir::constant(g, tensorFromArray(other, "constant operand"));
  ir::Tensor t = tensorFromArray(other, "constant operand");
  if (ir::isFloat(like.value().dtype()) && t.dtype() != like.value().dtype())
    t = tensorOfType(py::module_::import("numpy").attr("asarray")(
                         other, numpyDType(like.value().dtype())),
                     {like.value().dtype(), t.shape()}, "constant operand");
  return ir::constant(g, std::move(t));
}

template <typename F> auto binary(F f) {
  return [f](const ValueRef &a, const py::object &b) {
    return wrap(a.graph, f(a.value(), operandLike(a, b)));
  };
}
template <typename F> auto reflected(F f) {
  return [f](const ValueRef &a, const py::object &b) {
    return wrap(a.graph, f(operandLike(a, b), a.value()));
  };
}

std::vector<ir::Value> valuesOf(const std::vector<ValueRef> &refs, GraphPtr &graph) {
  std::vector<ir::Value> vs;
  for (const ValueRef &r : refs) {
    if (graph && r.graph != graph)
      throw Error("the operands belong to different graphs");
    graph = r.graph;
    vs.push_back(r.value());
  }
  return vs;
}

ValueRef applyOp(const std::string &opName, const std::vector<ValueRef> &operands,
                 const py::dict &attrs, GraphPtr graph) {
  ir::OpKind kind = opKindOf(opName);
  if (ir::isSource(kind))
    throw Error(opName + ": a source; use Graph.input, Graph.param or Graph.constant");
  GraphPtr g = graph;
  std::vector<ir::Value> vs = valuesOf(operands, g);
  if (!g)
    throw Error(opName + ": takes no operands here, so give the graph (graph=g)");
  ir::Attrs a = toAttrs(kind, attrs);
  if (vs.empty())
    return {g, g->addOp(kind, {}, std::move(a))};
  return wrap(g, ir::apply(kind, vs, std::move(a)));
}

py::list opSpecs() {
  py::list specs;
  for (size_t i = 0; i < ir::kNumOpKinds; ++i) {
    const ir::OpDef &d = ir::opDef(static_cast<ir::OpKind>(i));
    py::dict s;
    s["name"] = std::string(ir::opName(d.kind));
    s["family"] = familyName(d.family);
    s["min_operands"] = d.minOperands;
    s["max_operands"] = d.maxOperands;
    py::list operandNames;
    for (std::string_view n : d.operandNames)
      operandNames.append(std::string(n));
    s["operand_names"] = operandNames;
    py::list attrs;
    for (const ir::AttrSpec &a : d.attrs) {
      py::dict spec;
      spec["name"] = std::string(a.name);
      spec["kind"] = std::string(ir::attrKindName(a.kind));
      spec["required"] = !a.defaultValue.has_value();
      spec["default"] = a.defaultValue ? fromAttr(*a.defaultValue) : py::object(py::none());
      attrs.append(spec);
    }
    s["attrs"] = attrs;
    s["summary"] = std::string(d.summary);
    specs.append(s);
  }
  return specs;
}

std::optional<std::string> nameOf(const ValueRef &v) {
  const std::string &n = v.graph->node(v.id).name;
  if (n.empty())
    return std::nullopt;
  return n;
}

std::string valueRepr(const ValueRef &v) {
  const ir::Node &n = v.graph->node(v.id);
  return "<chainjit.Value " + (n.name.empty() ? "#" + std::to_string(v.id) : "%" + n.name) +
         " : " + n.type.str() + " = " + std::string(ir::opName(n.kind)) + ">";
}

std::vector<ValueRef> refs(const GraphPtr &g, const std::vector<ir::NodeId> &ids) {
  std::vector<ValueRef> r;
  for (ir::NodeId id : ids)
    r.push_back({g, id});
  return r;
}

ValueRef lookup(const GraphPtr &g, const std::string &name) {
  std::string n = !name.empty() && name[0] == '%' ? name.substr(1) : name;
  return {g, g->lookup(n)};
}

ir::Attrs paramAttrs(const py::dict &attrs) { return toAttrs(ir::OpKind::Param, attrs); }

} // namespace

void bindGraph(py::module_ &m) {
  py::class_<ir::Graph, GraphPtr> graph(m, "Graph", "A typed tensor graph (ir::Graph).");
  py::class_<ValueRef> value(m, "Value",
                             "A handle to one node of a graph; keeps the graph alive.");

  graph.def(py::init<std::string>(), py::arg("name") = "main")
      .def_property("name", &ir::Graph::name, &ir::Graph::setName)
      .def("__len__", &ir::Graph::size)
      .def("__str__", [](const ir::Graph &g) { return ir::printGraph(g); })
      .def("__repr__",
           [](const ir::Graph &g) {
             return "<chainjit.Graph '" + g.name() + "' with " + std::to_string(g.size()) +
                    " nodes>";
           })
      .def("text", [](const ir::Graph &g) { return ir::printGraph(g); },
           "The .cj text form (ir::printGraph).")
      .def("dot", [](const ir::Graph &g) { return ir::printDot(g); },
           "Graphviz DOT (ir::printDot).")
      .def("json", [](const ir::Graph &g, int indent) { return ir::printJson(g, indent); },
           py::arg("indent") = 2, "JSON (ir::printJson; schema in docs/cli.md).")
      .def("verify", [](const ir::Graph &g) { ir::verifyOrThrow(g); },
           "Raises chainjit.Error listing every problem.")
      .def("copy", [](const ir::Graph &g) { return std::make_shared<ir::Graph>(g); })
      .def("__getitem__", &lookup, py::arg("name"))
      .def("__contains__",
           [](const ir::Graph &g, const std::string &name) {
             return g.find(!name.empty() && name[0] == '%' ? name.substr(1) : name)
                 .has_value();
           })
      .def_property_readonly("inputs",
                             [](const GraphPtr &g) { return refs(g, g->inputs()); })
      .def_property_readonly("params",
                             [](const GraphPtr &g) { return refs(g, g->params()); })
      .def_property_readonly("outputs",
                             [](const GraphPtr &g) { return refs(g, g->outputs()); })
      .def_property_readonly("updates",
                             [](const GraphPtr &g) {
                               std::vector<std::pair<ValueRef, ValueRef>> r;
                               for (const ir::ParamUpdate &u : g->updates())
                                 r.push_back({{g, u.param}, {g, u.value}});
                               return r;
                             })
      .def(
          "input",
          [](const GraphPtr &g, const std::string &name, const py::object &shape,
             const py::object &dtype) {
            return wrap(g, ir::input(*g, name, {toDType(dtype, "input %" + name), toShape(shape)}));
          },
          py::arg("name"), py::arg("shape"), py::arg("dtype") = "f32",
          "Data bound on every call.")
      .def(
          "param",
          [](const GraphPtr &g, const std::string &name, const py::object &shape,
             const py::object &dtype, const py::kwargs &attrs) {
            return wrap(g, ir::param(*g, name, {toDType(dtype, "param %" + name), toShape(shape)},
                                     paramAttrs(attrs)));
          },
          py::arg("name"), py::arg("shape"), py::arg("dtype") = "f32",
          "Trainable or persistent state; attributes init, scale, seed, trainable.")
      .def(
          "constant",
          [](const GraphPtr &g, const py::object &value, const std::string &name,
             const py::object &dtype) {
            py::object v = value;
            if (!dtype.is_none())
              v = py::module_::import("numpy").attr("asarray")(value, numpyDType(toDType(dtype)));
            return wrap(g, ir::constant(*g, tensorFromArray(v, "constant"), name));
          },
          py::arg("value"), py::arg("name") = "", py::arg("dtype") = py::none(),
          "A literal tensor from an array (a copy).")
      .def(
          "scalar",
          [](const GraphPtr &g, double v, const py::object &dtype) {
            return wrap(g, ir::scalar(*g, v, toDType(dtype)));
          },
          py::arg("value"), py::arg("dtype") = "f32")
      .def(
          "output", [](const GraphPtr &g, const ValueRef &v) {
            if (v.graph != g)
              throw Error("output: the value belongs to another graph");
            ir::output(v.value());
            return v;
          },
          py::arg("value"), "Makes the value an output (in call order) and returns it.")
      .def(
          "update",
          [](const GraphPtr &g, const ValueRef &p, const ValueRef &v) {
            if (p.graph != g || v.graph != g)
              throw Error("update: the values belong to another graph");
            ir::update(p.value(), v.value());
          },
          py::arg("param"), py::arg("value"), "After each call the param takes the value.");

  value.def_property_readonly("graph", [](const ValueRef &v) { return v.graph; })
      .def_property_readonly("id", [](const ValueRef &v) { return v.id; })
      .def_property_readonly("shape", [](const ValueRef &v) { return shapeTuple(v.value().shape()); })
      .def_property_readonly("dtype",
                             [](const ValueRef &v) { return std::string(ir::dtypeName(v.value().dtype())); })
      .def_property_readonly("type", [](const ValueRef &v) { return v.value().type().str(); })
      .def_property_readonly("ndim", [](const ValueRef &v) { return v.value().shape().size(); })
      .def_property_readonly("name", &nameOf)
      .def_property_readonly("op", [](const ValueRef &v) {
        return std::string(ir::opName(v.graph->node(v.id).kind));
      })
      .def_property_readonly("attrs", [](const ValueRef &v) {
        py::dict d;
        for (const auto &[k, a] : v.graph->node(v.id).attrs)
          d[py::str(k)] = fromAttr(a);
        return d;
      })
      .def_property_readonly("operands", [](const ValueRef &v) {
        return refs(v.graph, v.graph->node(v.id).operands);
      })
      .def("named", [](const ValueRef &v, std::string n) { return wrap(v.graph, v.value().named(std::move(n))); },
           py::arg("name"), "Names the node (unique in its graph) and returns it.")
      .def("output", [](const ValueRef &v) { ir::output(v.value()); return v; },
           "Makes the value an output of its graph and returns it.")
      .def("__repr__", &valueRepr)
      .def("__add__", binary([](ir::Value a, ir::Value b) { return a + b; }))
      .def("__radd__", reflected([](ir::Value a, ir::Value b) { return a + b; }))
      .def("__sub__", binary([](ir::Value a, ir::Value b) { return a - b; }))
      .def("__rsub__", reflected([](ir::Value a, ir::Value b) { return a - b; }))
      .def("__mul__", binary([](ir::Value a, ir::Value b) { return a * b; }))
      .def("__rmul__", reflected([](ir::Value a, ir::Value b) { return a * b; }))
      .def("__truediv__", binary([](ir::Value a, ir::Value b) { return a / b; }))
      .def("__rtruediv__", reflected([](ir::Value a, ir::Value b) { return a / b; }))
      .def("__matmul__", binary([](ir::Value a, ir::Value b) { return ir::matmul(a, b); }))
      .def("__rmatmul__", reflected([](ir::Value a, ir::Value b) { return ir::matmul(a, b); }))
      .def("__neg__", [](const ValueRef &a) { return wrap(a.graph, -a.value()); })
      .def("__pos__", [](const ValueRef &a) { return a; })
      .def("__pow__", [](const ValueRef &a, double e) { return wrap(a.graph, ir::pow(a.value(), e)); })
      .def("__lt__", binary([](ir::Value a, ir::Value b) { return ir::less(a, b); }))
      .def("__le__", binary([](ir::Value a, ir::Value b) { return ir::lessEqual(a, b); }))
      .def("__gt__", binary([](ir::Value a, ir::Value b) { return ir::greater(a, b); }))
      .def("__ge__", binary([](ir::Value a, ir::Value b) { return ir::greaterEqual(a, b); }))
      // Values are handles: == compares identity so they work in sets and dicts
      // (cj.equal builds the elementwise comparison).
      .def("__eq__", [](const ValueRef &a, const py::object &b) {
        return py::isinstance<ValueRef>(b) && b.cast<const ValueRef &>().graph == a.graph &&
               b.cast<const ValueRef &>().id == a.id;
      })
      .def("__hash__", [](const ValueRef &a) {
        return std::hash<const void *>()(a.graph.get()) ^ (std::hash<ir::NodeId>()(a.id) << 1);
      })
      .def("__array__", [](const ValueRef &v, const py::args &) -> py::object {
        throw Error("a chainjit.Value is a node of a graph, not an array: compile the graph "
                    "(chainjit.compile) and call it to get arrays");
      });

  m.def("apply", &applyOp, py::arg("op"), py::arg("operands"), py::arg("attrs") = py::dict(),
        py::arg("graph") = GraphPtr(),
        "Any op of the IR by its text name, attributes by name (ir::apply).");
  m.def("op_specs", &opSpecs, "The definition of every op: name, operands, attributes.");
  m.def("segment_sum",
        [](const ValueRef &data, const ValueRef &ids, int64_t n) {
          if (data.graph != ids.graph)
            throw Error("segment_sum: the operands belong to different graphs");
          return wrap(data.graph, ir::segmentSum(data.value(), ids.value(), n));
        },
        py::arg("data"), py::arg("segment_ids"), py::arg("num_segments"));
  m.def("causal_mask",
        [](const GraphPtr &g, int64_t n) { return wrap(g, ir::causalMask(*g, n)); },
        py::arg("graph"), py::arg("n"));
  m.def("parse",
        [](const std::string &text, const std::string &filename) {
          return std::make_shared<ir::Graph>(ir::parseGraph(text, filename));
        },
        py::arg("text"), py::arg("filename") = "<input>",
        "A graph from .cj text (ir::parseGraph); errors carry file:line:col.");
  m.def("load",
        [](const std::string &path) { return std::make_shared<ir::Graph>(ir::parseGraphFile(path)); },
        py::arg("path"), "A graph from a .cj file (ir::parseGraphFile).");
}

} // namespace chainjit::python
