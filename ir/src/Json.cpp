// JSON output with nlohmann::json. The schema is in docs/cli.md; fields keep
// the order they are written in (ordered_json) so the output reads well.
#include "chainjit/ir/Json.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

namespace chainjit::ir {

namespace {

using Json = nlohmann::ordered_json;

// JSON has no nan or inf: they become the strings "nan", "inf", "-inf".
Json floatJson(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  return v;
}

// An f32 as the double of its shortest decimal form (0.1f -> 0.1, not
// 0.10000000149011612): reads back to the same float.
double shortestF32(float f) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  double d = f;
  std::from_chars(buf, r.ptr, d);
  return d;
}

std::string_view kindName(AttrKind k) {
  switch (k) {
  case AttrKind::Bool: return "bool";
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "ints";
  case AttrKind::Floats: return "floats";
  case AttrKind::DType: return "dtype";
  }
  return "?";
}

Json attrJson(const AttrValue &v) {
  Json value = std::visit(
      [](const auto &x) -> Json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, double>) {
          return floatJson(x);
        } else if constexpr (std::is_same_v<T, Floats>) {
          Json l = Json::array();
          for (double d : x)
            l.push_back(floatJson(d));
          return l;
        } else if constexpr (std::is_same_v<T, DType>) {
          return std::string(dtypeName(x));
        } else {
          return x;
        }
      },
      v);
  return Json{{"kind", kindName(kindOf(v))}, {"value", std::move(value)}};
}

Json typeJson(const TensorType &t) {
  return Json{{"dtype", dtypeName(t.dtype)}, {"shape", t.shape}};
}

Json valuesJson(const Tensor &t) {
  Json l = Json::array();
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (t.dtype()) {
    case DType::f32: l.push_back(floatJson(shortestF32(t.as<float>()[i]))); break;
    case DType::f64: l.push_back(floatJson(t.as<double>()[i])); break;
    case DType::i32: l.push_back(t.as<int32_t>()[i]); break;
    case DType::boolean: l.push_back(t.as<uint8_t>()[i] != 0); break;
    }
  }
  return l;
}

} // namespace

std::string printJson(const Graph &g, int indent) {
  Json nodes = Json::array();
  for (NodeId id = 0; id < g.size(); ++id) {
    const Node &n = g.node(id);
    Json attrs = Json::object();
    for (const auto &[name, value] : n.attrs)
      attrs[name] = attrJson(value);
    Json node{{"id", id},
              {"name", n.name.empty() ? Json(nullptr) : Json(n.name)},
              {"op", opName(n.kind)},
              {"operands", n.operands},
              {"attrs", std::move(attrs)},
              {"type", typeJson(n.type)}};
    if (n.kind == OpKind::Const && n.value)
      node["value"] = valuesJson(*n.value);
    nodes.push_back(std::move(node));
  }
  Json updates = Json::array();
  for (const ParamUpdate &u : g.updates())
    updates.push_back(Json{{"param", u.param}, {"value", u.value}});
  Json doc{{"format", "chainjit-graph"},
           {"version", 1},
           {"graph", g.name()},
           {"nodes", std::move(nodes)},
           {"outputs", g.outputs()},
           {"updates", std::move(updates)}};
  return doc.dump(indent < 0 ? -1 : indent, ' ', false,
                  Json::error_handler_t::replace) +
         "\n";
}

} // namespace chainjit::ir
