// The text form of a graph (docs/text-form-spec.md). Printing is canonical:
// nodes in stored order, unnamed values numbered in that order, attributes
// in name order with defaults left out, floats in their shortest exact form.
// The parser reads every printed graph back to one that prints identically.
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Function.h"

#include "TextNumbers.h"

#include <fmt/format.h>

#include <cstring>

namespace chainjit::ir {

namespace {

using text::formatF32;
using text::formatF64;

std::string quoted(std::string_view s) {
  std::string r = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\')
      (r += '\\') += c;
    else if (c == '\n')
      r += "\\n";
    else if (c == '\t')
      r += "\\t";
    else if (u < 0x20 || u == 0x7f)
      r += fmt::format("\\x{:02x}", u);
    else
      r += c;
  }
  return r + "\"";
}

std::string attrValueText(const AttrValue &v) {
  struct {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return formatF64(d); }
    std::string operator()(const std::string &s) const { return quoted(s); }
    std::string operator()(const Ints &v) const { return shapeStr(v); }
    std::string operator()(const Floats &v) const {
      std::string r = "[";
      for (size_t i = 0; i < v.size(); ++i)
        r += (i ? ", " : "") + formatF64(v[i]);
      return r + "]";
    }
    std::string operator()(DType t) const { return std::string(dtypeName(t)); }
  } visitor;
  return std::visit(visitor, v);
}

// " {a = 1, b = [2]}" without the attributes equal to the op's defaults, or
// "" when nothing is left.
std::string attrsText(OpKind kind, const Attrs &attrs) {
  const OpDef &def = opDef(kind);
  std::string r;
  for (const auto &[name, value] : attrs) {
    const AttrSpec *spec = def.findAttr(name);
    if (spec && spec->defaultValue && *spec->defaultValue == value)
      continue;
    r += (r.empty() ? " {" : ", ") + name + " = " + attrValueText(value);
  }
  return r.empty() ? r : r + "}";
}

std::string elementText(const Tensor &t, int64_t i) {
  switch (t.dtype()) {
  case DType::f32: return formatF32(t.as<float>()[i]);
  case DType::f64: return formatF64(t.as<double>()[i]);
  case DType::i32: return std::to_string(t.as<int32_t>()[i]);
  case DType::boolean: return t.as<uint8_t>()[i] ? "true" : "false";
  }
  return "?";
}

// Nested lists in row-major order, written without recursion so that a
// tensor of very high rank cannot exhaust the stack. `leaf` writes element i.
// Between elements i-1 and i, every trailing axis whose block starts at i
// closes and reopens.
template <typename Leaf>
void nestedText(std::string &r, const Shape &shape, int64_t count, Leaf leaf) {
  std::vector<int64_t> blocks(shape.size()); // elements per list of each depth
  int64_t b = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    b *= shape[d];
    blocks[d] = b;
  }
  r.append(shape.size(), '[');
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) {
      size_t closing = 0;
      for (size_t d = 1; d < shape.size(); ++d)
        if (i % blocks[d] == 0) {
          closing = shape.size() - d;
          break;
        }
      r.append(closing, ']');
      r += ", ";
      r.append(closing, '[');
    }
    leaf(r, i);
  }
  r.append(shape.size(), ']');
}

// A splat when every element is equal (scalars included); otherwise lists
// matching the shape. A tensor with no elements prints as the splat of its
// dtype's zero: nested empty lists would be one "[]" per index of the
// dimensions before the first zero, which f32[100000, 100, 0] makes ten
// million of, text out of all proportion to a value that holds nothing.
std::string literalText(const Tensor &t) {
  if (t.numel() == 0)
    return elementText(Tensor::scalar(t.dtype(), 0), 0);
  if (t.isSplat())
    return elementText(t, 0);
  std::string r;
  nestedText(r, t.shape(), t.numel(), [&](std::string &out, int64_t i) {
    out += elementText(t, i);
  });
  return r;
}

class GraphPrinter {
public:
  explicit GraphPrinter(const Graph &g) : g_(g) {
    int next = 0;
    for (const Node &n : g.nodes())
      names_.push_back("%" + (n.name.empty() ? std::to_string(next++) : n.name));
  }

  std::string print() {
    std::string r = "graph " + graphName() + " {\n";
    for (NodeId i = 0; i < g_.size(); ++i)
      r += "  " + nodeText(i) + "\n";
    for (NodeId o : g_.outputs())
      r += "  output " + ref(o) + "\n";
    for (const ParamUpdate &u : g_.updates())
      r += "  update " + ref(u.param) + " = " + ref(u.value) + "\n";
    return r + "}\n";
  }

  // The body's inputs are the parameters, in the header; the other nodes
  // print as a graph's do, in order.
  std::string printFunction(const Function &f) {
    std::string r = "func " + f.name() + "(";
    for (size_t i = 0; i < f.arity(); ++i)
      r += (i ? ", " : "") + ref(f.params()[i]) + " : " + f.paramType(i).str();
    r += ") {\n";
    for (NodeId i = 0; i < g_.size(); ++i)
      if (g_.node(i).kind != OpKind::Input)
        r += "  " + nodeText(i) + "\n";
    r += "  return ";
    for (size_t i = 0; i < g_.outputs().size(); ++i)
      r += (i ? ", " : "") + ref(g_.outputs()[i]);
    return r + "\n}\n";
  }

private:
  // A graph name that is not an identifier is printed as a string.
  std::string graphName() const {
    return isValidValueName(g_.name()) ? g_.name() : quoted(g_.name());
  }

  // An id past the end is printed rather than crashed on: the printer is
  // used to look at graphs that failed verification.
  std::string ref(NodeId id) const {
    return id < names_.size() ? names_[id] : "%<missing #" + std::to_string(id) + ">";
  }

  std::string nodeText(NodeId id) const {
    const Node &n = g_.node(id);
    const std::string &name = names_[id];
    switch (n.kind) {
    case OpKind::Input:
      return "input " + name + " : " + n.type.str();
    case OpKind::Param:
      return "param " + name + " : " + n.type.str() +
             attrsText(n.kind, n.attrs);
    case OpKind::Const:
      return "const " + name + " : " + n.type.str() + " = " +
             (n.value ? literalText(*n.value) : "<missing value>");
    default: {
      std::string r = name + " = " + std::string(opName(n.kind)) + "(";
      for (size_t i = 0; i < n.operands.size(); ++i)
        r += (i ? ", " : "") + ref(n.operands[i]);
      return r + ")" + attrsText(n.kind, n.attrs) + " : " + n.type.str();
    }
    }
  }

  const Graph &g_;
  std::vector<std::string> names_;
};

// The functions g's scans use, those their bodies use first, each once:
// printed before the graph so that the file parses back to the same table.
// Functions of the table that no scan uses (left by a pass that removed
// the scan) are not printed: the parser would not put them back.
void collectFunctions(const Graph &g, std::vector<const Function *> &out) {
  for (const auto &f : g.functions()) {
    bool used = false;
    for (const Node &n : g.nodes())
      used = used || (n.kind == OpKind::Scan && n.attrs.getString("body") == f->name());
    if (!used)
      continue;
    bool seen = false;
    for (const Function *o : out)
      seen = seen || o->name() == f->name();
    if (seen)
      continue;
    collectFunctions(f->body(), out);
    out.push_back(f.get());
  }
}

} // namespace

std::string printGraph(const Graph &g) {
  std::vector<const Function *> used;
  collectFunctions(g, used);
  std::string r;
  for (const Function *f : used)
    r += printFunction(*f) + "\n";
  return r + GraphPrinter(g).print();
}

std::string printFunction(const Function &f) { return GraphPrinter(f.body()).printFunction(f); }

} // namespace chainjit::ir
