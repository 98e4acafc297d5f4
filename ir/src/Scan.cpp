// scan's signature check, its result layout and the builder helpers (Scan.h).
#include "chainjit/ir/Scan.h"

#include <fmt/format.h>

namespace chainjit::ir {

namespace {

// Result pieces above this many elements are rejected before any product
// can overflow (the verifier's byte limit then applies to the whole).
constexpr int64_t kMaxScanElements = int64_t{1} << 46;

int64_t checkedMul(int64_t a, int64_t b) {
  if (a != 0 && b > kMaxScanElements / a)
    throw Error("the stacked result of the scan is too large");
  return a * b;
}

} // namespace

ScanLayout scanLayout(const Function &f, std::span<const TensorType> in, const Attrs &a) {
  ScanLayout l;
  l.carries = a.getInt("carries");
  l.sequences = a.getInt("sequences");
  l.reverse = a.getBool("reverse");
  const int64_t n = static_cast<int64_t>(in.size());
  if (l.carries < 0 || l.sequences < 0)
    throw Error("carries and sequences must be non-negative counts");
  if (l.carries + l.sequences > n)
    throw Error(fmt::format("carries = {} and sequences = {} need at least {} operands, got {}",
                            l.carries, l.sequences, l.carries + l.sequences, n));
  l.invariants = n - l.carries - l.sequences;
  if (static_cast<int64_t>(f.arity()) != n)
    throw Error(fmt::format("body @{} takes {} parameters, the scan passes {} ({} carries, "
                            "{} sequences, {} invariants)",
                            f.name(), f.arity(), n, l.carries, l.sequences, l.invariants));
  if (static_cast<int64_t>(f.numResults()) < l.carries)
    throw Error(fmt::format("body @{} returns {} results, fewer than its {} carries",
                            f.name(), f.numResults(), l.carries));

  // The length: from the sequences, or the attribute when there are none.
  int64_t lengthAttr = a.getInt("length");
  if (lengthAttr < 0)
    throw Error(fmt::format("length = {} is negative", lengthAttr));
  l.length = lengthAttr;
  for (int64_t j = 0; j < l.sequences; ++j) {
    const TensorType &s = in[l.carries + j];
    if (s.rank() < 1)
      throw Error(fmt::format("sequence #{} {} has no leading time axis", j, s.str()));
    if (l.length == 0)
      l.length = s.shape[0];
    else if (s.shape[0] != l.length)
      throw Error(fmt::format("sequence #{} {} has length {}, expected {} (the {})", j,
                              s.str(), s.shape[0], l.length,
                              j > 0 && lengthAttr == 0 ? "length of sequence #0"
                                                       : "length attribute"));
  }
  if (l.length < 1)
    throw Error(l.sequences == 0 ? "a scan without sequences needs length = T >= 1"
                                 : "a scan needs at least one step");

  // Parameters against operands.
  for (int64_t i = 0; i < n; ++i) {
    TensorType want = in[i];
    std::string what;
    if (i < l.carries) {
      what = fmt::format("carry #{}", i);
    } else if (i < l.carries + l.sequences) {
      want.shape.erase(want.shape.begin());
      what = fmt::format("a step of sequence #{} {}", i - l.carries, in[i].str());
    } else {
      what = fmt::format("invariant #{}", i - l.carries - l.sequences);
    }
    if (f.paramType(i) != want)
      throw Error(fmt::format("body @{} parameter #{} is {}, but {} is {}", f.name(), i,
                              f.paramType(i).str(), what, want.str()));
  }

  // Results: carries keep their type; ys share the carries' float dtype.
  std::optional<DType> dtype;
  auto takeDType = [&](const TensorType &t, const std::string &what) {
    if (!isFloat(t.dtype))
      throw Error(fmt::format("{} is {}: carries and per-step results must be float", what,
                              t.str()));
    if (dtype && *dtype != t.dtype)
      throw Error(fmt::format("{} is {}, but the scan's first float is {}: carries and "
                              "per-step results share one dtype",
                              what, t.str(), std::string(dtypeName(*dtype))));
    dtype = t.dtype;
  };
  for (int64_t i = 0; i < l.carries; ++i) {
    const TensorType &r = f.resultType(i);
    if (r != in[i])
      throw Error(fmt::format("body @{} changes carry #{} from {} to {}: a carry keeps its "
                              "type from step to step",
                              f.name(), i, in[i].str(), r.str()));
    takeDType(r, fmt::format("carry #{}", i));
    l.carryTypes.push_back(r);
  }
  for (size_t i = l.carries; i < f.numResults(); ++i) {
    takeDType(f.resultType(i), fmt::format("per-step result #{}", i - l.carries));
    l.yTypes.push_back(f.resultType(i));
  }
  if (!dtype)
    throw Error(fmt::format("body @{} returns nothing to scan", f.name()));
  l.dtype = *dtype;

  int64_t off = 0;
  auto addPiece = [&](Shape s) {
    int64_t size = 1;
    for (int64_t d : s)
      size = checkedMul(size, d);
    l.offsets.push_back(off);
    l.shapes.push_back(std::move(s));
    off += size;
    if (off > kMaxScanElements)
      throw Error("the stacked result of the scan is too large");
  };
  for (const TensorType &c : l.carryTypes)
    addPiece(c.shape);
  for (const TensorType &y : l.yTypes) {
    Shape s{l.length};
    s.insert(s.end(), y.shape.begin(), y.shape.end());
    addPiece(std::move(s));
  }
  l.totalSize = off;
  return l;
}

ScanLayout scanLayout(const Graph &g, NodeId id) {
  const Node &n = g.node(id);
  if (n.kind != OpKind::Scan)
    throw Error(n.label(id) + " is not a scan", n.loc);
  const std::string &name = n.attrs.getString("body");
  const Function *f = g.findFunction(name);
  if (!f)
    throw Error("unknown body function @" + name, n.loc);
  std::vector<TensorType> types;
  for (NodeId o : n.operands)
    types.push_back(g.type(o));
  return scanLayout(*f, types, n.attrs);
}

Value scanPiece(Value packed, const ScanLayout &l, size_t i) {
  const Shape &s = l.shapes.at(i);
  int64_t size = numElements(s);
  int64_t begin = l.offsets.at(i);
  Value piece = packed;
  if (size != l.totalSize)
    piece = slice(packed, {begin}, {begin + size});
  return reshape(piece, s);
}

std::vector<Value> unpackScan(Value packed) {
  ScanLayout l = scanLayout(packed.graph(), packed.id());
  std::vector<Value> out;
  for (size_t i = 0; i < l.shapes.size(); ++i)
    out.push_back(scanPiece(packed, l, i));
  return out;
}

std::vector<Value> scan(std::shared_ptr<const Function> body, const std::vector<Value> &carries,
                        const std::vector<Value> &sequences,
                        const std::vector<Value> &invariants, bool reverse, int64_t length) {
  std::vector<Value> all = carries;
  all.insert(all.end(), sequences.begin(), sequences.end());
  all.insert(all.end(), invariants.begin(), invariants.end());
  if (all.empty())
    throw Error("scan: needs at least one operand (a carry, sequence or invariant)");
  Graph &g = all.front().graph();
  std::vector<NodeId> ids;
  for (const Value &v : all) {
    if (&v.graph() != &g)
      throw Error("scan: operands from different graphs");
    ids.push_back(v.id());
  }
  std::string name = body->name();
  g.addFunction(std::move(body));
  Attrs attrs{{"body", name},
              {"carries", static_cast<int64_t>(carries.size())},
              {"sequences", static_cast<int64_t>(sequences.size())},
              {"length", length},
              {"reverse", reverse}};
  NodeId id = g.addOp(OpKind::Scan, std::move(ids), std::move(attrs));
  return unpackScan(Value(g, id));
}

std::vector<Value> scan(const Function &body, const std::vector<Value> &carries,
                        const std::vector<Value> &sequences,
                        const std::vector<Value> &invariants, bool reverse, int64_t length) {
  return scan(std::make_shared<const Function>(body), carries, sequences, invariants, reverse,
              length);
}

} // namespace chainjit::ir
