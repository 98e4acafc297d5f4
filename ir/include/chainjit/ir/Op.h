// Operation kinds and their definitions.
//
// OpKind enumerates ops.def. An OpDef is the single definition of an op: its
// text name, how many operands it takes, its attributes with their defaults,
// and its type rule. Definitions are written in family files under ir/ops/
// and collected by opDef(); nothing else in ir/ switches on op semantics.
#pragma once

#include "chainjit/ir/Attr.h"
#include "chainjit/ir/Types.h"

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace chainjit::ir {

class Graph;

enum class OpKind : uint16_t {
#define CHAINJIT_OP(Enum, Name) Enum,
#include "chainjit/ir/ops.def"
};

constexpr size_t kNumOpKinds = 0
#define CHAINJIT_OP(Enum, Name) +1
#include "chainjit/ir/ops.def"
    ;

std::string_view opName(OpKind k);
std::optional<OpKind> parseOpKind(std::string_view name);
bool isSource(OpKind k); // input, param, const
// The names a param's `init` attribute accepts.
const std::vector<std::string_view> &paramInitializers();

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  // nullopt: the attribute is required.
  std::optional<AttrValue> defaultValue;
};

// Computes the result type from the operand types and the (canonicalized)
// attributes, or throws chainjit::Error saying what is wrong.
using TypeRule = TensorType (*)(std::span<const TensorType> operands,
                                const Attrs &attrs);
// The type rule of an op that refers to a function of its graph (scan's
// body): it also gets the graph, to resolve the function by name.
using GraphTypeRule = TensorType (*)(std::span<const TensorType> operands,
                                     const Attrs &attrs, const Graph &g);

// The families group ops for documentation and for the per-family tables of
// later layers.
enum class OpFamily : uint8_t {
  Source, Elementwise, Shape, LinAlg, Reduce, Loss, NN, Index, Sparse, Control
};

struct OpDef {
  OpKind kind;
  OpFamily family;
  int minOperands = 0;
  int maxOperands = 0; // -1: variadic
  std::vector<std::string_view> operandNames; // for docs and messages
  std::vector<AttrSpec> attrs;
  TypeRule inferType = nullptr;
  std::string_view summary; // one line for docs and --help
  // Set instead of inferType by ops that refer to the graph's functions.
  GraphTypeRule inferTypeInGraph = nullptr;

  const AttrSpec *findAttr(std::string_view name) const;
};

// The definition of every op, indexed by kind. Throws on first use if an op
// of ops.def has no definition (a programming error caught by every test).
const OpDef &opDef(OpKind k);

// Checks attribute names and kinds against the op's specs, converts ints
// given for float attributes, and fills in defaults. Throws chainjit::Error.
Attrs canonicalizeAttrs(const OpDef &def, const Attrs &given);

// Checks the operand count and runs the type rule. Throws chainjit::Error.
// `g` resolves function names for ops that refer to functions (scan); without
// one such an op's type cannot be inferred.
TensorType inferResultType(OpKind k, std::span<const TensorType> operands,
                           const Attrs &canonicalAttrs, const Graph *g = nullptr);

} // namespace chainjit::ir
