// Functions: a graph fragment defined once and called many times (a
// transformer block, an LSTM cell). A function is a body Graph whose inputs
// are its parameters and whose outputs are its results; a call inlines the
// body into the caller's graph, so every pass downstream (derivatives, the
// chain planner, the JIT) sees an ordinary graph.
//
//   Graph body("dense");
//   Value x = input(body, "x", f32({32, 64}));
//   Value W = input(body, "W", f32({64, 128}));
//   output(tanh(matmul(x, W)).named("y"));
//   Function dense("dense", std::move(body));
//
//   Value h1 = call(dense, {x0, W1}, "h1")[0]; // %h1 (and %h1.* for other
//                                               // named body values)
//   Value h2 = call(dense, {h1, W2})[0];       // nodes %dense_1.*
//
// The .cj text form writes the same as `func dense(%x : ..., %W : ...) {
// ... return %y }` and `%h1 = dense(%x0, %W1)`; the parser calls inlineCall,
// the one implementation of a call.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Graph.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chainjit::ir {

class Function {
public:
  // Checks that `name` is an identifier and no op's name, and that `body`
  // verifies, has at least one output, and holds no params or updates (its
  // inputs are the parameters, in order). Throws chainjit::Error at `loc`.
  Function(std::string name, Graph body, SourceLoc loc = {});

  const std::string &name() const { return name_; }
  const Graph &body() const { return body_; }
  // Where the function is defined (its name in a .cj file), if parsed.
  const SourceLoc &loc() const { return loc_; }

  size_t arity() const { return params_.size(); }
  size_t numResults() const { return body_.outputs().size(); }
  // The body's input nodes, in order.
  const std::vector<NodeId> &params() const { return params_; }
  const TensorType &paramType(size_t i) const { return body_.type(params_.at(i)); }
  const TensorType &resultType(size_t i) const { return body_.type(body_.outputs().at(i)); }

private:
  std::string name_;
  Graph body_;
  SourceLoc loc_;
  std::vector<NodeId> params_;
};

// Functions by name, in the order they were added.
class FunctionLibrary {
public:
  // Throws chainjit::Error at f.loc() if the name is taken.
  void add(Function f);
  const Function *find(std::string_view name) const;
  const std::vector<Function> &functions() const { return functions_; }
  std::vector<std::string> names() const;
  bool empty() const { return functions_.empty(); }

private:
  std::vector<Function> functions_;
  std::unordered_map<std::string, size_t> byName_;
};

// Where and how a call is written; everything is optional.
struct CallSite {
  SourceLoc loc;                  // the call (errors name it)
  std::vector<SourceLoc> argLocs; // each argument's, for type errors
  // Named body values become %prefix.name; empty: "<function>_<n>" with the
  // first n that makes every such name free in the caller's graph.
  std::string prefix;
  // Names for the results ("" leaves one as it would be). A result that is
  // a parameter passed through, or returned twice, keeps its node's name.
  std::vector<std::string> resultNames;
};

// The most nodes a graph (and, in a .cj file, all function bodies together)
// may reach by inlining calls: far above real models (a 12-block transformer
// is a few thousand), low enough that a crafted file of doubling calls is
// refused in well under a second.
constexpr size_t kMaxNodesWithCalls = size_t{1} << 18;

// Inlines `f` into `g` with `args` (nodes of g) for its parameters and
// returns the nodes of its results. Every body node is copied with its
// SourceLoc (which points into the body). Throws chainjit::Error at the call
// for a wrong number of arguments, an argument whose type differs from its
// parameter's, or a call that would grow g past kMaxNodesWithCalls; an
// error while copying the body (a derived name already taken) is located in
// the body and says "in a call of 'f' at FILE:L:C".
std::vector<NodeId> inlineCall(Graph &g, const Function &f, const std::vector<NodeId> &args,
                               const CallSite &site = {});

// The builder's form of inlineCall: args are values of one graph. A prefix
// names the first result as well, as `%prefix = f(...)` does in the text
// form; without one, results are named like other body values.
std::vector<Value> call(const Function &f, const std::vector<Value> &args,
                        std::string prefix = {});
// For a function without parameters (or to name the graph explicitly).
std::vector<Value> call(Graph &g, const Function &f, const std::vector<Value> &args,
                        std::string prefix = {});

// `func name(%x : T, ...) { ... return %y }`: parseFunctions reads it back
// to a function that prints identically.
std::string printFunction(const Function &f);

} // namespace chainjit::ir
