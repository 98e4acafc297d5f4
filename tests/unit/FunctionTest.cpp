// The builder's functions (Function.h): a body graph made with the builder,
// calls that type-check and inline, errors naming the problem, printing,
// and derivatives of a graph with inlined calls equal to the flat graph's.
#include "FileTesting.h"
#include "GradCheck.h"
#include "RoundTrip.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <sstream>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::errorOf;

namespace {

// tanh(x @ W + b), f64.
Function denseFunction(int64_t in, int64_t out) {
  Graph body("dense");
  Value x = input(body, "x", f64({5, in}));
  Value W = input(body, "W", f64({in, out}));
  Value b = input(body, "b", f64({out}));
  Value z = (matmul(x, W) + b).named("z");
  output(tanh(z).named("y"));
  return Function("dense", std::move(body));
}

// The same two layers, called and written out.
Graph twoLayers(bool withCalls) {
  Graph g("net");
  Value x = input(g, "x", f64({5, 3}));
  Value t = input(g, "t", f64({5, 2}));
  Value W1 = param(g, "W1", f64({3, 4}));
  Value b1 = param(g, "b1", f64({4}));
  Value W2 = param(g, "W2", f64({4, 2}));
  Value b2 = param(g, "b2", f64({2}));
  Value y = x;
  if (withCalls) {
    Value h = call(denseFunction(3, 4), {x, W1, b1}, "h")[0];
    y = call(denseFunction(4, 2), {h, W2, b2})[0];
  } else {
    y = tanh(matmul(tanh(matmul(x, W1) + b1), W2) + b2);
  }
  output(mse(y, t).named("loss"));
  return g;
}

} // namespace

TEST_CASE("function: a function called twice in one graph") {
  Function dense = denseFunction(3, 3);
  CHECK(dense.arity() == 3);
  CHECK(dense.numResults() == 1);
  CHECK(dense.paramType(1) == f64({3, 3}));
  Graph g("g");
  Value x = input(g, "x", f64({5, 3}));
  Value W = param(g, "W", f64({3, 3}));
  Value b = param(g, "b", f64({3}));
  Value h1 = call(dense, {x, W, b}, "h1")[0];
  Value h2 = call(dense, {h1, W, b})[0];
  Value h3 = call(dense, {h2, W, b})[0];
  output(h3);
  // Each call copies the body (3 nodes); names come from the prefix, or
  // from the function's name and the first free number.
  CHECK(g.size() == 3 + 3 * 3);
  CHECK(g.node(h1.id()).name == "h1");
  CHECK(g.node(g.lookup("h1.z")).kind == OpKind::Add);
  CHECK(g.node(h2.id()).name == "dense_1.y");
  CHECK(g.node(h3.id()).name == "dense_2.y");
  CHECK(g.node(h2.id()).operands.size() == 1);
  CHECK(h3.type() == f64({5, 3}));
  chainjit::testing::checkRoundTrip(g);
  // Exactly what the text form's calls give.
  std::string text = printFunction(dense) + R"(graph g {
  input %x : f64[5, 3]
  param %W : f64[3, 3]
  param %b : f64[3]
  %h1 = dense(%x, %W, %b)
  %0 = dense(%h1, %W, %b)
  %1 = dense(%0, %W, %b)
  output %1
})";
  CHECK(printGraph(parseGraph(text, "g.cj")) == printGraph(g));
  // A function prints and parses back.
  std::string f = printFunction(dense);
  CHECK(f == R"(func dense(%x : f64[5, 3], %W : f64[3, 3], %b : f64[3]) {
  %0 = matmul(%x, %W) : f64[5, 3]
  %z = add(%0, %b) : f64[5, 3]
  %y = tanh(%z) : f64[5, 3]
  return %y
}
)");
  CHECK(printFunction(*parseFunctions(f).find("dense")) == f);
}

TEST_CASE("function: calls check arguments, functions check their body and name") {
  Function dense = denseFunction(3, 3);
  Graph g("g");
  Value x = input(g, "x", f64({5, 3}));
  Value W = param(g, "W", f64({3, 3}));
  Value wrong = param(g, "V", f64({3, 4}));
  CHECK(errorOf([&] { call(dense, {x, W}); }) == "error: 'dense' takes 3 arguments, got 2");
  CHECK(errorOf([&] { call(dense, {x, wrong, x}); }) ==
        "error: argument 2 of 'dense' is f64[3, 4] but parameter %W is f64[3, 3]");
  CHECK(errorOf([&] { call(dense, {}); }).find("needs the graph") != std::string::npos);
  Graph other("other");
  Value y = input(other, "y", f64({3}));
  CHECK(errorOf([&] { call(dense, {x, W, y}); }) ==
        "error: argument 3 of a call of 'dense' belongs to another graph");
  // A failed call adds nothing.
  CHECK(g.size() == 3);

  auto bodyWith = [](bool withParam, bool withOutput) {
    Graph b("b");
    Value u = input(b, "u", f32({2}));
    if (withParam)
      u = u + param(b, "p", f32({2}));
    if (withOutput)
      output(neg(u));
    return b;
  };
  CHECK(errorOf([&] { Function("f", bodyWith(true, true)); }) ==
        "error: function 'f': a body holds no params (pass %p as a parameter)");
  CHECK(errorOf([&] { Function("f", bodyWith(false, false)); }) ==
        "error: function 'f' has no results (its body has no outputs)");
  CHECK(errorOf([&] { Function("relu", bodyWith(false, true)); }) ==
        "error: function 'relu' has the name of an op (choose another name)");
  CHECK(errorOf([&] { Function("not a name", bodyWith(false, true)); })
            .find("invalid function name") != std::string::npos);
  FunctionLibrary lib;
  lib.add(Function("f", bodyWith(false, true)));
  CHECK(errorOf([&] { lib.add(Function("f", bodyWith(false, true))); }) ==
        "error: function 'f' is already defined");
  CHECK(lib.find("f"));
  CHECK(!lib.find("g"));
}

TEST_CASE("function: derivatives through inlined calls equal the flat graph's") {
  Graph called = twoLayers(true), flat = twoLayers(false);
  CHECK(called.size() == flat.size());
  runtime::Bindings b = chainjit::testing::randomBindings(flat, 7);
  std::vector<std::string> wrt{"W1", "b1", "W2", "b2"};
  Graph gc = compiler::grad(called, "loss", wrt), gf = compiler::grad(flat, "loss", wrt);
  for (const std::string &w : wrt) {
    CAPTURE(w);
    auto got = chainjit::testing::valueOf(gc, b, "grad." + w).toDoubles();
    auto want = chainjit::testing::valueOf(gf, b, "grad." + w).toDoubles();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i)
      CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  }
  // And both agree with finite differences.
  chainjit::testing::checkDerivatives(called, b, "loss", wrt);
}

// builder.md documents Function.h as it does Builder.h: every free function
// and every member of Function, signature and all.
TEST_CASE("docs: builder.md lists every declaration of Function.h") {
  auto read = [](const std::string &rel) {
    std::ifstream in(std::string(CHAINJIT_SOURCE_DIR) + "/" + rel);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  std::string md = read("docs/builder.md");
  std::string header;
  {
    std::istringstream in(read("ir/include/chainjit/ir/Function.h"));
    for (std::string line; std::getline(in, line);)
      header += line.substr(0, line.find("//")) + " ";
  }
  std::string flat;
  for (char c : header)
    if (c != ' ' || (!flat.empty() && flat.back() != ' '))
      flat += c;
  static const std::regex decl(
      R"((std::vector<[\w:]+>|std::string|size_t|const [A-Za-z:<>]+ &) ?&?[a-z][A-Za-z]*\([^;()]*\)( const)?)");
  std::vector<std::string> found;
  for (std::sregex_iterator it(flat.begin(), flat.end(), decl), end; it != end; ++it)
    found.push_back(it->str());
  found.push_back("Function(std::string name, Graph body, SourceLoc loc = {})");
  CHECK(found.size() >= 12);
  for (const std::string &d : found) {
    INFO("docs/builder.md lacks `" << d << "`");
    CHECK(md.find(d) != std::string::npos);
  }
}
