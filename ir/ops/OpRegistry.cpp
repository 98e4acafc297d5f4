// Collects the family definitions into one table indexed by OpKind, and the
// generic parts of op handling: names, attribute canonicalization, arity.
#include "OpFamilies.h"

#include "chainjit/ir/Suggest.h"

#include <algorithm>
#include <array>
#include <memory>

namespace chainjit::ir {

static constexpr std::array<std::string_view, kNumOpKinds> kOpNames = {
#define CHAINJIT_OP(Enum, Name) Name,
#include "chainjit/ir/ops.def"
};

std::string_view opName(OpKind k) { return kOpNames.at(static_cast<size_t>(k)); }

std::optional<OpKind> parseOpKind(std::string_view name) {
  for (size_t i = 0; i < kNumOpKinds; ++i)
    if (kOpNames[i] == name)
      return static_cast<OpKind>(i);
  return std::nullopt;
}

bool isSource(OpKind k) {
  return k == OpKind::Input || k == OpKind::Param || k == OpKind::Const;
}

const AttrSpec *OpDef::findAttr(std::string_view n) const {
  for (const AttrSpec &a : attrs)
    if (a.name == n)
      return &a;
  return nullptr;
}

namespace {
struct OpTable {
  std::array<std::unique_ptr<OpDef>, kNumOpKinds> defs;

  OpTable() {
    for (auto family : {ops::sourceOps, ops::elementwiseOps, ops::shapeOps,
                        ops::linalgOps, ops::reduceOps, ops::lossOps, ops::nnOps,
                        ops::indexOps, ops::sparseOps, ops::controlOps})
      for (OpDef &d : family()) {
        auto &slot = defs.at(static_cast<size_t>(d.kind));
        if (slot)
          throw Error("op '" + std::string(opName(d.kind)) + "' is defined twice");
        slot = std::make_unique<OpDef>(std::move(d));
      }
    for (size_t i = 0; i < kNumOpKinds; ++i)
      if (!defs[i])
        throw Error("op '" + std::string(kOpNames[i]) + "' has no definition");
  }
};
} // namespace

const OpDef &opDef(OpKind k) {
  static const OpTable table;
  return *table.defs.at(static_cast<size_t>(k));
}

Attrs canonicalizeAttrs(const OpDef &def, const Attrs &given) {
  Attrs out;
  for (const auto &[name, value] : given) {
    const AttrSpec *spec = def.findAttr(name);
    if (!spec) {
      std::string known;
      std::vector<std::string> names;
      for (const AttrSpec &a : def.attrs) {
        known += (known.empty() ? "" : ", ") + std::string(a.name);
        names.emplace_back(a.name);
      }
      std::optional<std::string> guess = closestName(name, names);
      throw Error("unknown attribute '" + name + "'" +
                  (known.empty() ? " (this op takes none)"
                                 : " (expected one of: " + known +
                                       (guess ? "; did you mean '" + *guess + "'?)" : ")")));
    }
    AttrKind k = kindOf(value);
    if (k == spec->kind) {
      out.set(name, value);
    } else if (spec->kind == AttrKind::Float && k == AttrKind::Int) {
      out.set(name, static_cast<double>(std::get<int64_t>(value)));
    } else if (spec->kind == AttrKind::Floats && k == AttrKind::Ints) {
      const Ints &v = std::get<Ints>(value);
      out.set(name, Floats(v.begin(), v.end()));
    } else {
      throw Error("attribute '" + name + "' must be " +
                  attrKindPhrase(spec->kind) + ", got " + attrKindPhrase(k));
    }
  }
  for (const AttrSpec &spec : def.attrs) {
    if (out.has(spec.name))
      continue;
    if (!spec.defaultValue)
      throw Error("missing required attribute '" + std::string(spec.name) + "'");
    out.set(std::string(spec.name), *spec.defaultValue);
  }
  return out;
}

TensorType inferResultType(OpKind k, std::span<const TensorType> operands,
                           const Attrs &attrs, const Graph *g) {
  const OpDef &def = opDef(k);
  int n = static_cast<int>(operands.size());
  if (n < def.minOperands || (def.maxOperands >= 0 && n > def.maxOperands)) {
    std::string want = def.maxOperands < 0
                           ? "at least " + std::to_string(def.minOperands)
                       : def.minOperands == def.maxOperands
                           ? std::to_string(def.minOperands)
                           : std::to_string(def.minOperands) + " to " +
                                 std::to_string(def.maxOperands);
    throw Error("expects " + want + " operand" + (want == "1" ? "" : "s") +
                ", got " + std::to_string(n));
  }
  if (def.inferTypeInGraph) {
    if (!g)
      throw Error("needs its graph to resolve the functions it refers to");
    return def.inferTypeInGraph(operands, attrs, *g);
  }
  if (!def.inferType)
    throw Error("has no type rule");
  return def.inferType(operands, attrs);
}

namespace ops {

void requireFloat(const TensorType &t, std::string_view what) {
  if (!isFloat(t.dtype))
    throw Error(std::string(what) + " must be f32 or f64, got " + t.str());
}

void requireNumeric(const TensorType &t, std::string_view what) {
  if (t.dtype == DType::boolean)
    throw Error(std::string(what) + " must be numeric, got " + t.str());
}

void requireSameDType(const TensorType &a, const TensorType &b) {
  if (a.dtype != b.dtype)
    throw Error("operand dtypes differ: " + a.str() + " and " + b.str() +
                " (insert a cast)");
}

void requireIndices(const TensorType &t, std::string_view what) {
  if (t.dtype != DType::i32)
    throw Error(std::string(what) + " must be i32, got " + t.str());
}

void requireRank(const TensorType &t, int64_t rank, std::string_view what) {
  if (t.rank() != rank)
    throw Error(std::string(what) + " must have rank " + std::to_string(rank) +
                ", got " + t.str());
}

int64_t normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    throw Error("axis " + std::to_string(axis) + " is out of range for rank " +
                std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Ints normalizeAxes(const Ints &axes, int64_t rank) {
  Ints r;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i)
      r.push_back(i);
    return r;
  }
  for (int64_t a : axes)
    r.push_back(normalizeAxis(a, rank));
  std::sort(r.begin(), r.end());
  if (std::adjacent_find(r.begin(), r.end()) != r.end())
    throw Error("axes " + shapeStr(axes) + " repeat an axis");
  return r;
}

void requirePositiveList(const Ints &v, size_t n, std::string_view what,
                         bool allowZero) {
  if (v.size() != n)
    throw Error(std::string(what) + " needs " + std::to_string(n) +
                " entries, got " + shapeStr(v));
  for (int64_t x : v)
    if (x < 0 || (x == 0 && !allowZero))
      throw Error(std::string(what) + " entries must be " +
                  (allowZero ? "non-negative" : "positive") + ", got " +
                  shapeStr(v));
}

Shape broadcastOrThrow(const Shape &a, const Shape &b) {
  auto s = broadcastShapes(a, b);
  if (!s)
    throw Error("shapes " + shapeStr(a) + " and " + shapeStr(b) +
                " do not broadcast");
  return *s;
}

} // namespace ops
} // namespace chainjit::ir
