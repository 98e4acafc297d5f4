// The reference interpreter's driver: checks the bindings against the
// graph's inputs and params, then evaluates the nodes in their (topological)
// order through the kernel table of runtime/src/interp/.
#include "chainjit/runtime/Interpreter.h"

#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Verifier.h"
#include "interp/Kernels.h"

#include <limits>

namespace chainjit::runtime {

namespace {

std::string nameList(const std::vector<ir::NodeId> &ids, const ir::Graph &g) {
  std::string s;
  for (ir::NodeId id : ids)
    s += (s.empty() ? "%" : ", %") + g.node(id).name;
  return s.empty() ? "none" : s;
}

} // namespace

// Every binding must name an input or a param: a misspelt name would
// otherwise be ignored silently (and a param fall back to its initializer).
void checkBindingNames(const ir::Graph &g, const Bindings &bindings) {
  std::string unknown, guess;
  int count = 0;
  for (const auto &[name, value] : bindings) {
    auto id = g.find(name);
    if (id && (g.node(*id).kind == ir::OpKind::Input ||
               g.node(*id).kind == ir::OpKind::Param))
      continue;
    unknown += (unknown.empty() ? "%" : ", %") + name;
    ++count;
    guess = count == 1 ? name : std::string();
  }
  if (count > 0) {
    std::vector<std::string> sources;
    for (ir::NodeId id : g.inputs())
      sources.push_back(g.node(id).name);
    for (ir::NodeId id : g.params())
      sources.push_back(g.node(id).name);
    throw Error("unknown binding" + std::string(count > 1 ? "s " : " ") +
                unknown + ": graph '" + g.name() +
                "' has no input or param of that name (inputs: " +
                nameList(g.inputs(), g) + "; params: " + nameList(g.params(), g) +
                ")" + (guess.empty() ? "" : ir::didYouMean(guess, sources, "%")));
  }
}

static ir::Tensor boundValue(const ir::Graph &g, ir::NodeId id, const ir::Tensor &v) {
  const ir::Node &n = g.node(id);
  if (v.type() != n.type)
    throw Error(std::string(ir::opName(n.kind)) + " %" + n.name +
                    " is declared " + n.type.str() + " but bound to a " +
                    v.type().str(),
                n.loc);
  return v;
}

ir::Tensor sourceValue(const ir::Graph &g, ir::NodeId id,
                       const Bindings &bindings) {
  const ir::Node &n = g.node(id);
  auto it = bindings.find(n.name);
  switch (n.kind) {
  case ir::OpKind::Input:
    if (it == bindings.end())
      throw Error("input %" + n.name + " : " + n.type.str() + " is not bound",
                  n.loc);
    return boundValue(g, id, it->second);
  case ir::OpKind::Param:
    return it == bindings.end() ? initialParamValue(g, id)
                                : boundValue(g, id, it->second);
  default: // Const
    return *n.value;
  }
}

namespace {

ir::Tensor evaluateNode(const ir::Graph &g, ir::NodeId id,
                        const std::vector<ir::Tensor> &values) {
  const ir::Node &n = g.node(id);
  interp::KernelArgs args{n, id, {}, &g};
  for (ir::NodeId o : n.operands)
    args.operands.push_back(&values[o]);
  ir::Tensor r = interp::kernelTable()[static_cast<size_t>(n.kind)](args);
  if (r.type() != n.type) // a kernel bug, not a user error
    args.fail("internal: the kernel produced " + r.type().str() +
              ", expected " + n.type.str());
  return r;
}

// The most bytes the values of `g` occupy at once when evaluate() frees
// each after its last use (all of them with keepAll): checked against the
// allocation limit before anything is computed. The verifier bounds each
// value's bytes, and the sums saturate.
uint64_t peakBytes(const ir::Graph &g, const std::vector<ir::NodeId> &lastUse, bool keepAll) {
  auto add = [](uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; };
  std::vector<uint64_t> bytes(g.size());
  uint64_t live = 0, peak = 0;
  for (ir::NodeId i = 0; i < g.size(); ++i) {
    bytes[i] = ir::checkedByteSize(g.node(i).type).value_or(UINT64_MAX);
    live = add(live, bytes[i]);
    peak = std::max(peak, live);
    if (!keepAll)
      for (ir::NodeId o : g.node(i).operands)
        if (lastUse[o] == i) {
          live -= std::min(live, bytes[o]);
          bytes[o] = 0; // an operand used twice by this node is freed once
        }
  }
  return peak;
}

// Evaluates every node in order. Unless keepAll, a value is dropped after
// its last use unless an output or update needs it.
std::vector<ir::Tensor> evaluate(const ir::Graph &g, const Bindings &bindings,
                                 bool keepAll) {
  ir::verifyOrThrow(g);
  checkBindingNames(g, bindings);
  constexpr ir::NodeId kForever = std::numeric_limits<ir::NodeId>::max();
  std::vector<ir::NodeId> lastUse(g.size(), 0);
  for (ir::NodeId i = 0; i < g.size(); ++i)
    for (ir::NodeId o : g.node(i).operands)
      lastUse[o] = i;
  for (ir::NodeId o : g.outputs())
    lastUse[o] = kForever;
  for (const ir::ParamUpdate &u : g.updates())
    lastUse[u.value] = kForever;

  ir::checkAlloc(peakBytes(g, lastUse, keepAll), "graph '" + g.name() + "' under the interpreter");

  std::vector<ir::Tensor> values(g.size());
  for (ir::NodeId i = 0; i < g.size(); ++i) {
    const ir::Node &n = g.node(i);
    values[i] = ir::isSource(n.kind) ? sourceValue(g, i, bindings)
                                     : evaluateNode(g, i, values);
    if (!keepAll)
      for (ir::NodeId o : n.operands)
        if (lastUse[o] == i)
          values[o] = ir::Tensor();
  }
  return values;
}

} // namespace

bool interpreterHasKernel(ir::OpKind k) {
  return interp::kernelTable()[static_cast<size_t>(k)] != nullptr;
}

std::vector<ir::Tensor> interpretAll(const ir::Graph &g,
                                     const Bindings &bindings) {
  return evaluate(g, bindings, /*keepAll=*/true);
}

std::vector<std::string> outputNamesOf(const ir::Graph &g) {
  std::vector<std::string> names;
  for (ir::NodeId o : g.outputs())
    names.push_back(g.node(o).name);
  return names;
}

const ir::Tensor &EvalResult::output(std::string_view name) const {
  std::string_view key = name.starts_with('%') ? name.substr(1) : name;
  for (size_t i = 0; i < outputNames.size() && i < outputs.size(); ++i)
    if (!key.empty() && outputNames[i] == key)
      return outputs[i];
  std::string known;
  std::vector<std::string> named;
  for (const std::string &n : outputNames)
    if (!n.empty()) {
      known += (known.empty() ? "%" : ", %") + n;
      named.push_back(n);
    }
  if (outputNames.empty() && !outputs.empty())
    throw Error("no output named %" + std::string(key) +
                ": this result carries no output names (read outputs by index)");
  throw Error("no output named %" + std::string(key) + " (outputs: " +
              (known.empty() ? "none named" : known) + ")" +
              ir::didYouMean(key, named, "%"));
}

EvalResult interpret(const ir::Graph &g, const Bindings &bindings) {
  std::vector<ir::Tensor> values = evaluate(g, bindings, /*keepAll=*/false);
  EvalResult r;
  for (ir::NodeId o : g.outputs())
    r.outputs.push_back(values[o]);
  r.outputNames = outputNamesOf(g);
  for (const ir::ParamUpdate &u : g.updates())
    r.updatedParams[g.node(u.param).name] = values[u.value];
  return r;
}

} // namespace chainjit::runtime
