// The messages a new user meets first: what() leaves "error:" to whoever
// prints it, unknown names get a "did you mean", and the builder and the
// loss rules say what to write instead.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Suggest.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <functional>

using namespace chainjit;
using namespace chainjit::ir;

// what() exactly, not the CLI rendering the other tests' errorOf gives.
static std::string whatOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.what();
  }
  return "(no error)";
}

TEST_CASE("errors: what() is 'where: message' without 'error:', Diagnostic::str() adds it") {
  Error plain("the file is empty");
  CHECK(std::string(plain.what()) == "the file is empty");
  CHECK(plain.diagnostics()[0].str() == "error: the file is empty");

  Error located("expected ')'", SourceLoc{"m.cj", 3, 7, ""});
  CHECK(std::string(located.what()) == "m.cj:3:7: expected ')'");
  CHECK(located.diagnostics()[0].str() == "m.cj:3:7: error: expected ')'");

  Error node("add: shapes [2] and [3] do not broadcast", SourceLoc{"", 0, 0, "s"});
  CHECK(std::string(node.what()) == "in %s: add: shapes [2] and [3] do not broadcast");

  Error two(std::vector<Diagnostic>{{{"a.cj", 1, 1, ""}, "first"}, {{}, "second"}});
  CHECK(std::string(two.what()) == "a.cj:1:1: first\nsecond");

  // An embedder's own prefix does not double the word.
  std::string text = whatOf([] { parseGraph("graph g {\n  %y = tahn(%x)\n}\n", "t.cj"); });
  CHECK(text.find("error:") == std::string::npos);
  CHECK(("myapp: error: " + text).find("error: error") == std::string::npos);
}

TEST_CASE("suggestions: the closest known name, only when it is a likely typo") {
  CHECK(editDistance("tahn", "tanh") == 1); // a swap is one edit
  CHECK(editDistance("", "abc") == 3);
  CHECK(editDistance("kitten", "sitting") == 3);
  std::vector<std::string> ops = {"tanh", "relu", "sigmoid", "matmul"};
  CHECK(closestName("tahn", ops) == "tanh");
  CHECK(closestName("sigmiod", ops) == "sigmoid");
  CHECK(closestName("matmult", ops) == "matmul");
  CHECK(!closestName("frobnicate", ops));
  CHECK(!closestName("y", {"x"})); // one letter of one is no typo
  CHECK(!closestName("tanh", {"tanh"}));
  CHECK(didYouMean("hiden", {"hidden", "x"}, "%") == " (did you mean '%hidden'?)");
  CHECK(didYouMean("zzz", {"hidden", "x"}).empty());
}

TEST_CASE("parse errors: a misspelt op, value or attribute gets a suggestion") {
  CHECK(whatOf([] {
          parseGraph("graph g {\n  input %x : f32[2]\n  %y = tahn(%x)\n  output %y\n}\n", "t.cj");
        }) == "t.cj:3:8: unknown op 'tahn' (did you mean 'tanh'?)");
  CHECK(whatOf([] {
          parseGraph("graph g {\n  input %x : f32[2]\n  %y = frobnicate(%x)\n  output %y\n}\n",
                     "t.cj");
        }) == "t.cj:3:8: unknown op 'frobnicate'");
  CHECK(whatOf([] {
          parseGraph("graph g {\n  input %input : f32[2]\n  %y = relu(%inptu)\n  output %y\n}\n",
                     "t.cj");
        }) == "t.cj:3:13: undefined value %inptu (did you mean '%input'?)");
  CHECK(whatOf([] {
          parseGraph("graph g {\n  input %x : f32[2, 3]\n  %s = sum(%x) {axis = [0]}\n"
                     "  output %s\n}\n",
                     "t.cj");
        }).find("unknown attribute 'axis' (expected one of: axes, keepdims; did you mean "
                "'axes'?)") != std::string::npos);
}

TEST_CASE("cross_entropy: float class labels are told to be i32") {
  Graph g("g");
  Value logits = input(g, "logits", f32({4, 3}));
  Value labels = input(g, "labels", f32({4}));
  std::string e = whatOf([&] { crossEntropy(logits, labels); });
  CHECK(e == "cross_entropy: class labels must be i32, got f32[4] (declare them i32[4], or "
             "convert them with cast(%labels) {dtype = i32}); a float target is "
             "probabilities, shaped like the logits [4, 3]");
  // Probabilities and i32 labels are still fine.
  CHECK(crossEntropy(logits, input(g, "p", f32({4, 3}))).type() == f32({}));
  CHECK(crossEntropy(logits, input(g, "k", i32({4}))).type() == f32({}));
  // A float target of another shape keeps the probabilities message.
  CHECK(whatOf([&] { crossEntropy(logits, input(g, "q", f32({4, 2}))); })
            .find("probability targets must have the logits' shape [4, 3]") !=
        std::string::npos);
}

TEST_CASE("builder: scalar() of the wrong dtype says to pass the dtype") {
  Graph g("g");
  Value x = input(g, "x", f64({3}));
  std::string e = whatOf([&] { mul(x, scalar(g, 0.0)); });
  CHECK(e == "mul: the scalar constant is f32[] but the other operand is f64[3]; pass the "
             "dtype: scalar(g, value, DType::f64), or write x * value, which takes x's dtype");
  CHECK(e.find("insert a cast") == std::string::npos);
  CHECK(whatOf([&] { add(scalar(g, 1.0), x); }).find("DType::f64") != std::string::npos);
  // Right dtype, or a double operand: fine.
  CHECK(mul(x, scalar(g, 0.5, DType::f64)).dtype() == DType::f64);
  CHECK((x * 0.5).dtype() == DType::f64);
  // Only elementwise ops get the hint: matmul's own message stands.
  CHECK(whatOf([&] { matmul(x, scalar(g, 1.0)); }).find("scalar constant") == std::string::npos);
  // Two tensors of different dtypes keep the op's own message.
  Value y = input(g, "y", f32({3}));
  CHECK(whatOf([&] { add(x, y); }).find("(insert a cast)") != std::string::npos);
}

namespace {

Graph twoOutputs() {
  Graph g("two");
  Value x = input(g, "x", f64({2}));
  output((x * 2.0).named("double"));
  output(sum(x).named("total"));
  return g;
}

runtime::Bindings xIs12() { return {{"x", Tensor(f64({2}), {1, 2})}}; }

} // namespace

TEST_CASE("EvalResult: outputs by name as well as by index") {
  Graph g = twoOutputs();
  runtime::EvalResult r = runtime::interpret(g, xIs12());
  CHECK(r.outputNames == std::vector<std::string>{"double", "total"});
  CHECK(r.output("total").at(0) == 3);
  CHECK(r.output("%double").at(1) == 4);
  CHECK(&r.output("total") == &r.outputs[1]);
  CHECK(whatOf([&] { r.output("totl"); }) ==
        "no output named %totl (outputs: %double, %total) (did you mean '%total'?)");
  CHECK(whatOf([&] { r.output("loss"); }) == "no output named %loss (outputs: %double, %total)");
  // A result built by hand carries no names: a clear error, not a wrong tensor.
  runtime::EvalResult bare;
  bare.outputs.push_back(Tensor(f64({})));
  CHECK(whatOf([&] { bare.output("x"); }).find("read outputs by index") != std::string::npos);
}

TEST_CASE("EvalResult: the interpreter Executable names its outputs too") {
  auto exe = runtime::makeExecutable(twoOutputs(), runtime::Backend::Interp);
  CHECK(exe->run(xIs12()).output("total").at(0) == 3);
}

TEST_CASE("bindings: a misspelt input gets a suggestion") {
  Graph g = twoOutputs();
  runtime::Bindings b = {{"xx", Tensor(f64({2}))}};
  CHECK(whatOf([&] { runtime::interpret(g, b); })
            .find("unknown binding %xx: graph 'two' has no input or param of that name "
                  "(inputs: %x; params: none)") != std::string::npos);
  runtime::Bindings c = {{"input", Tensor(f64({2}))}};
  Graph h("h");
  output(relu(input(h, "inputs", f64({2}))).named("y"));
  CHECK(whatOf([&] { runtime::interpret(h, c); }).find("(did you mean '%inputs'?)") !=
        std::string::npos);
}
