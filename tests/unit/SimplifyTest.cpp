// The simplification passes one rewrite at a time: fold-constants, simplify,
// cse, and the simplify-all pipeline, on small graphs written in the text
// form, with the printed result asserted (and the values, where a rewrite
// could change them).
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

// The body of `text` run through `passes` (each result verified), printed
// without the graph line, so expectations read as statements.
std::string after(const std::string &passes, const std::string &body) {
  Graph g = parseGraph("graph t {\n" + body + "}\n");
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= passes.size()) {
    size_t comma = passes.find(',', start);
    if (comma == std::string::npos)
      comma = passes.size();
    names.push_back(passes.substr(start, comma - start));
    start = comma + 1;
  }
  Graph out = compiler::runPasses(g, names);
  std::string text = printGraph(out);
  size_t open = text.find('\n') + 1;
  return text.substr(open, text.rfind('}') - open);
}

size_t countKind(const Graph &g, OpKind k) {
  size_t n = 0;
  for (const Node &node : g.nodes())
    n += node.kind == k;
  return n;
}

} // namespace

// --- fold-constants ---

TEST_CASE("fold-constants: exact arithmetic on small consts, rounded like the interpreter") {
  // (1 + 0.1f) rounds to f32 before the division, as in the interpreter.
  CHECK(after("fold-constants,dce", R"(
  const %a : f32[3] = [1.0, 2.0, 3.0]
  const %b : f32[] = 0.1
  %c = add(%a, %b)
  %d = div(%c, %b)
  output %d
)") == R"(  const %d : f32[3] = [11.0, 20.999998, 30.999998]
  output %d
)");
  // f32 results are the f64 result rounded once, as the interpreter stores
  // them: check against the interpreter itself, bit for bit.
  Graph g = parseGraph(R"(graph t {
  const %a : f32[4] = [1.0, 3.0, -7.5, 1e30]
  const %b : f32[4] = [3.0, 7.0, 0.1, 1e-30]
  %q = div(%a, %b)
  %m = mul(%a, %b)
  %s = sub(%q, %m)
  %n = neg(%s)
  %r = sqrt(%b)
  %x = maximum(%n, %r)
  output %x, %q
})");
  Graph folded = compiler::foldConstants(g);
  CHECK(verify(folded).empty());
  auto want = runtime::interpret(g, {}).outputs;
  auto got = runtime::interpret(folded, {}).outputs;
  CHECK(want[0] == got[0]);
  CHECK(want[1] == got[1]);
  CHECK(folded.node(folded.outputs()[0]).kind == OpKind::Const);
}

TEST_CASE("fold-constants: i32 wraps around, casts saturate, comparisons and where") {
  CHECK(after("fold-constants,dce", R"(
  const %a : i32[2] = [2147483647, 7]
  const %one : i32[] = 1
  const %two : i32[] = 2
  %s = add(%a, %one)
  %q = mul(%a, %two)
  const %f : f32[3] = [3e10, -2.7, nan]
  %i = cast(%f) {dtype = i32}
  %lt = less(%a, %two)
  %w = where(%lt, %a, %one)
  output %s, %q, %i, %w
)") == R"(  const %s : i32[2] = [-2147483648, 8]
  const %q : i32[2] = [-2, 14]
  const %i : i32[3] = [2147483647, -2, 0]
  const %w : i32[2] = 1
  output %s
  output %q
  output %i
  output %w
)");
}

TEST_CASE("fold-constants: splats stay splats, at any size") {
  // broadcast_to, reshape and transpose of a splat, and arithmetic on splats.
  CHECK(after("fold-constants,dce", R"(
  const %z : f64[] = 0.0
  %b = broadcast_to(%z) {shape = [1000, 300]}
  %r = reshape(%b) {shape = [300, 1000]}
  %t = transpose(%r)
  const %h : f64[1, 300] = 0.5
  %s = add(%t, %h)
  output %s
)") == R"(  const %s : f64[1000, 300] = 0.5
  output %s
)");
}

TEST_CASE("fold-constants: sum and mean of a splat accumulate like the interpreter") {
  Graph g = parseGraph(R"(graph t {
  const %c : f32[] = 0.1
  %b = broadcast_to(%c) {shape = [7, 1000]}
  %s = sum(%b) {axes = [1]}
  %m = mean(%b)
  %k = sum(%b) {axes = [0], keepdims = true}
  output %s, %m, %k
})");
  Graph folded = compiler::runPasses(g, {"fold-constants", "dce"});
  CHECK(folded.size() == 3);
  for (NodeId o : folded.outputs())
    CHECK(folded.node(o).kind == OpKind::Const);
  auto want = runtime::interpret(g, {}).outputs;
  auto got = runtime::interpret(folded, {}).outputs;
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(want[i] == got[i]);
  // Not 1000 * 0.1: the sum is accumulated one element at a time.
  CHECK(got[0].at(0) == want[0].at(0));
}

TEST_CASE("fold-constants: transposes and broadcasts of small dense consts") {
  CHECK(after("fold-constants,dce", R"(
  const %a : f32[2, 3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %t = transpose(%a)
  %b = broadcast_to(%t) {shape = [2, 3, 2]}
  %r = reshape(%b) {shape = [-1]}
  output %t, %r
)") == R"(  const %t : f32[3, 2] = [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
  const %r : f32[12] = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
  output %t
  output %r
)");
}

TEST_CASE("fold-constants: leaves transcendental functions, inputs and large dense results") {
  std::string body = R"(
  input %x : f32[2]
  const %a : f32[2] = [1.0, 2.0]
  %e = exp(%a)
  %y = add(%x, %a)
  output %e, %y
)";
  CHECK(after("fold-constants", body) == R"(  input %x : f32[2]
  const %a : f32[2] = [1.0, 2.0]
  %e = exp(%a) : f32[2]
  %y = add(%x, %a) : f32[2]
  output %e
  output %y
)");
  Graph g;
  Tensor ramp(f64({5000}));
  for (int64_t i = 0; i < ramp.numel(); ++i)
    ramp.set(i, double(i));
  output(constant(g, ramp) * 2.0);
  CHECK(countKind(compiler::foldConstants(g), OpKind::Mul) == 1); // over 4096 elements
}

// --- simplify ---

TEST_CASE("simplify: units of arithmetic disappear, broadcasting where they broadcast") {
  CHECK(after("simplify,dce", R"(
  input %x : f32[3]
  const %zero : f32[] = 0.0
  const %one : f32[] = 1.0
  const %ones : f32[2, 3] = 1.0
  %a = add(%x, %zero)
  %b = add(%zero, %a)
  %c = sub(%b, %zero)
  %d = mul(%c, %one)
  %e = mul(%one, %d)
  %f = div(%e, %one)
  %g = mul(%f, %ones)
  output %g
)") == R"(  input %x : f32[3]
  %g = broadcast_to(%x) {shape = [2, 3]} : f32[2, 3]
  output %g
)");
}

TEST_CASE("simplify: negations") {
  CHECK(after("simplify,dce", R"(
  input %x : f64[3]
  input %y : f64[3]
  const %zero : f64[] = 0.0
  const %m1 : f64[] = -1.0
  %nx = neg(%x)
  %ny = neg(%y)
  %a = neg(%nx)
  %b = add(%a, %ny)
  %c = sub(%b, %ny)
  %d = add(%nx, %c)
  %e = mul(%nx, %ny)
  %f = sub(%zero, %e)
  %g = mul(%f, %m1)
  %h = div(%g, %m1)
  output %d, %h
)") == R"(  input %x : f64[3]
  input %y : f64[3]
  %b = sub(%x, %y) : f64[3]
  %c = add(%b, %y) : f64[3]
  %d = sub(%c, %x) : f64[3]
  %e = mul(%x, %y) : f64[3]
  %h = neg(%e) : f64[3]
  output %d
  output %h
)");
  CHECK(after("simplify-all", R"(
  input %x : f64[3]
  const %m1 : f64[] = -1.0
  %a = mul(%x, %m1)
  %b = div(%a, %m1)
  output %b
)") == R"(  input %x : f64[3]
  %b = reshape(%x) {shape = [3]} : f64[3]
  output %b
)");
}

TEST_CASE("simplify: zero products are strong zeros") {
  CHECK(after("simplify,dce", R"(
  input %x : f32[4, 3]
  input %w : f32[3, 2]
  const %zero : f32[3] = 0.0
  %a = mul(%x, %zero)
  %b = matmul(%a, %w)
  const %z2 : f32[2] = 0.0
  %c = mul(%w, %z2)
  output %b, %c
)") == R"(  input %x : f32[4, 3]
  input %w : f32[3, 2]
  const %b : f32[4, 2] = 0.0
  const %c : f32[3, 2] = 0.0
  output %b
  output %c
)");
  // Documented: x * 0 is 0 even for inf and nan x.
  Graph g = parseGraph(R"(graph t {
  input %x : f64[2]
  const %zero : f64[] = 0.0
  %y = mul(%x, %zero)
  output %y
})");
  Graph s = compiler::simplifyGraph(g);
  Tensor x(f64({2}), {std::numeric_limits<double>::infinity(), 3.0});
  auto y = runtime::interpret(s, {{"x", x}}).outputs[0];
  CHECK(y.at(0) == 0.0);
  CHECK(y.at(1) == 0.0);
}

TEST_CASE("simplify: nested data movement collapses") {
  CHECK(after("simplify,dce", R"(
  input %x : f32[2, 3, 4]
  %a = transpose(%x) {perm = [1, 2, 0]}
  %b = transpose(%a) {perm = [2, 0, 1]}
  %c = transpose(%x) {perm = [1, 0, 2]}
  %d = transpose(%c) {perm = [0, 2, 1]}
  %r1 = reshape(%x) {shape = [6, 4]}
  %r2 = reshape(%r1) {shape = [24]}
  %r3 = reshape(%r2) {shape = [2, 3, 4]}
  %s = reshape(%x) {shape = [2, -1, 4]}
  %e = broadcast_to(%x) {shape = [2, 3, 4]}
  input %v : f32[4]
  %f = broadcast_to(%v) {shape = [3, 4]}
  %g = broadcast_to(%f) {shape = [5, 3, 4]}
  input %i : i32[2]
  %h = cast(%i) {dtype = i32}
  output %b, %d, %r2, %r3, %s, %e, %g, %h
)") == R"(  input %x : f32[2, 3, 4]
  %b = reshape(%x) {shape = [2, 3, 4]} : f32[2, 3, 4]
  %d = transpose(%x) {perm = [1, 2, 0]} : f32[3, 4, 2]
  %r2 = reshape(%x) {shape = [24]} : f32[24]
  %r3 = reshape(%x) {shape = [2, 3, 4]} : f32[2, 3, 4]
  %s = reshape(%x) {shape = [2, 3, 4]} : f32[2, 3, 4]
  %e = reshape(%x) {shape = [2, 3, 4]} : f32[2, 3, 4]
  input %v : f32[4]
  %g = broadcast_to(%v) {shape = [5, 3, 4]} : f32[5, 3, 4]
  input %i : i32[2]
  %h = reshape(%i) {shape = [2]} : i32[2]
  output %b
  output %d
  output %r2
  output %r3
  output %s
  output %e
  output %g
  output %h
)");
  // The composed perm really is the composition.
  Graph g = parseGraph(R"(graph t {
  input %x : f64[2, 3, 4]
  %c = transpose(%x) {perm = [1, 0, 2]}
  %d = transpose(%c) {perm = [0, 2, 1]}
  %0 = transpose(%x) {perm = [2, 1, 0]}
  %1 = transpose(%0)
  %e = mul(%1, %x)
  output %d, %e
})");
  Graph s = compiler::simplifyAlgebra(g);
  Tensor x(f64({2, 3, 4}));
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, double(i));
  auto want = runtime::interpret(g, {{"x", x}}).outputs;
  auto got = runtime::interpret(s, {{"x", x}}).outputs;
  CHECK(want[0] == got[0]);
  CHECK(want[1] == got[1]);
}

TEST_CASE("simplify: where with equal sides or a constant condition") {
  CHECK(after("simplify,dce", R"(
  input %c : bool[2, 3]
  input %x : f32[3]
  input %y : f32[3]
  const %t : bool[] = true
  %a = where(%c, %x, %x)
  %b = where(%t, %x, %y)
  output %a, %b
)") == R"(  input %c : bool[2, 3]
  input %x : f32[3]
  input %y : f32[3]
  %a = broadcast_to(%x) {shape = [2, 3]} : f32[2, 3]
  %b = reshape(%x) {shape = [3]} : f32[3]
  output %a
  output %b
)");
}

TEST_CASE("simplify: elementwise ops absorb the broadcasts they would do themselves") {
  CHECK(after("simplify,dce", R"(
  input %x : f32[3]
  input %y : f32[2, 3]
  %bx = broadcast_to(%x) {shape = [2, 3]}
  %a = add(%bx, %y)
  %b = mul(%bx, %x)
  output %a, %b
)") == R"(  input %x : f32[3]
  input %y : f32[2, 3]
  %bx = broadcast_to(%x) {shape = [2, 3]} : f32[2, 3]
  %a = add(%x, %y) : f32[2, 3]
  %b = mul(%bx, %x) : f32[2, 3]
  output %a
  output %b
)");
}

TEST_CASE("simplify: names move to the replacement or stay as an alias") {
  // %a is named, its replacement %0 is not: %0 takes the name. %x is an input
  // (named): %b stays as an alias so both names exist. Unnamed %1 just goes.
  CHECK(after("simplify,dce", R"(
  input %x : f32[2]
  const %one : f32[] = 1.0
  %0 = exp(%x)
  %a = mul(%0, %one)
  %b = mul(%x, %one)
  %1 = mul(%a, %one)
  %c = log(%1)
  output %a, %b, %c
)") == R"(  input %x : f32[2]
  %a = exp(%x) : f32[2]
  %b = reshape(%x) {shape = [2]} : f32[2]
  %c = log(%a) : f32[2]
  output %a
  output %b
  output %c
)");
  // An alias is a fixed point of the pipeline.
  std::string aliased = after("simplify-all", R"(
  input %x : f32[2]
  %b = reshape(%x) {shape = [2]}
  output %b
)");
  CHECK(aliased == after("simplify-all", aliased));
}

TEST_CASE("simplify: updates follow their values") {
  CHECK(after("simplify-all", R"(
  param %p : f32[2]
  const %zero : f32[] = 0.0
  const %lr : f32[] = 0.5
  %g = mul(%p, %zero)
  %step = mul(%g, %lr)
  %next = sub(%p, %step)
  update %p = %next
)") == R"(  param %p : f32[2]
  %next = reshape(%p) {shape = [2]} : f32[2]
  update %p = %next
)");
  // An unnamed value that turns out to be the param itself.
  CHECK(after("simplify-all", R"(
  param %p : f32[2]
  const %one : f32[] = 1.0
  %0 = mul(%p, %one)
  update %p = %0
)") == R"(  param %p : f32[2]
  update %p = %p
)");
}

// --- cse ---

TEST_CASE("cse: same op, operands and attributes give one node") {
  CHECK(after("cse,dce", R"(
  input %x : f32[2, 3]
  input %y : f32[2, 3]
  %0 = exp(%x)
  %1 = exp(%x)
  %a = add(%0, %y)
  %b = add(%y, %1)
  %s1 = sum(%a) {axes = [0]}
  %s2 = sum(%b) {axes = [1]}
  %s3 = sum(%b) {axes = [0]}
  %m = mul(%s1, %s3)
  output %m, %s2
)") == R"(  input %x : f32[2, 3]
  input %y : f32[2, 3]
  %0 = exp(%x) : f32[2, 3]
  %a = add(%0, %y) : f32[2, 3]
  %s1 = sum(%a) {axes = [0]} : f32[3]
  %s2 = sum(%a) {axes = [1]} : f32[2]
  %m = mul(%s1, %s1) : f32[3]
  output %m
  output %s2
)");
}

TEST_CASE("cse: consts merge by type and bits, inputs and params never") {
  CHECK(after("cse,dce", R"(
  input %x : f64[2]
  input %y : f64[2]
  param %p : f64[2]
  param %q : f64[2]
  const %0 : f64[2] = [1.0, 2.0]
  const %1 : f64[2] = [1.0, 2.0]
  const %2 : f32[2] = [1.0, 2.0]
  const %3 : f64[] = 0.0
  const %4 : f64[] = -0.0
  %a = add(%x, %0)
  %b = add(%y, %1)
  %c = mul(%p, %3)
  %d = mul(%q, %4)
  %e = cast(%2) {dtype = f64}
  output %a, %b, %c, %d, %e
)") == R"(  input %x : f64[2]
  input %y : f64[2]
  param %p : f64[2]
  param %q : f64[2]
  const %0 : f64[2] = [1.0, 2.0]
  const %1 : f32[2] = [1.0, 2.0]
  const %2 : f64[] = 0.0
  const %3 : f64[] = -0.0
  %a = add(%x, %0) : f64[2]
  %b = add(%y, %0) : f64[2]
  %c = mul(%p, %2) : f64[2]
  %d = mul(%q, %3) : f64[2]
  %e = cast(%1) {dtype = f64} : f64[2]
  output %a
  output %b
  output %c
  output %d
  output %e
)");
}

TEST_CASE("cse: the survivor takes a name, two names keep an alias") {
  CHECK(after("cse,dce", R"(
  input %x : f32[2]
  %0 = exp(%x)
  %h = exp(%x)
  %g = exp(%x)
  %y = add(%0, %g)
  output %y, %h
)") == R"(  input %x : f32[2]
  %h = exp(%x) : f32[2]
  %y = add(%h, %h) : f32[2]
  output %y
  output %h
)");
  // %g is an output: it stays, as an alias, and its users use %h.
  CHECK(after("cse,dce", R"(
  input %x : f32[2]
  %h = exp(%x)
  %g = exp(%x)
  %y = add(%h, %g)
  output %y, %h, %g
)") == R"(  input %x : f32[2]
  %h = exp(%x) : f32[2]
  %g = reshape(%h) {shape = [2]} : f32[2]
  %y = add(%h, %g) : f32[2]
  output %y
  output %h
  output %g
)");
  CHECK(after("cse,simplify,dce", R"(
  input %x : f32[2]
  %h = exp(%x)
  %g = exp(%x)
  %y = add(%h, %g)
  output %y, %h, %g
)") == R"(  input %x : f32[2]
  %h = exp(%x) : f32[2]
  %g = reshape(%h) {shape = [2]} : f32[2]
  %y = add(%h, %h) : f32[2]
  output %y
  output %h
  output %g
)");
}

// --- the pipeline ---

TEST_CASE("simplify-all: the passes feed each other and reach a fixed point") {
  std::string body = R"(
  input %x : f32[3]
  const %one : f32[] = 1.0
  const %two : f32[] = 2.0
  const %half : f32[] = 0.5
  %k = mul(%two, %half)
  %a = mul(%x, %k)
  %0 = exp(%x)
  %1 = exp(%a)
  %same = sub(%0, %1)
  %c = less(%x, %one)
  %w = where(%c, %0, %1)
  output %same, %w
)";
  std::string once = after("simplify-all", body);
  CHECK(once == R"(  input %x : f32[3]
  %w = exp(%x) : f32[3]
  %same = sub(%w, %w) : f32[3]
  output %same
  output %w
)");
  CHECK(after("simplify-all", once) == once);
  // The registry lists each pass once, with a description.
  for (const char *name : {"fold-constants", "simplify", "cse", "simplify-all"})
    CHECK(!compiler::findPass(name).description.empty());
}
