// Round trips of random graphs through the text form, forward references
// and the order the parser restores, and layout (comments, whitespace) that
// must not change what a file means.
#include "RandomGraph.h"
#include "RoundTrip.h"
#include "TextRewrite.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <regex>
#include <set>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkRoundTrip;
using chainjit::testing::randomGraph;
using chainjit::testing::RandomGraphOptions;

// A spread of option sets, so that every family and both dtypes are covered.
static RandomGraphOptions optionsFor(uint64_t seed) {
  RandomGraphOptions o;
  o.numOps = 4 + static_cast<int>(seed % 17);
  o.dtype = seed % 2 ? DType::f32 : DType::f64;
  o.nn = seed % 3 == 0;
  o.smoothOnly = seed % 5 == 0;
  o.safeDomains = seed % 7 != 0;
  o.updates = seed % 4 == 0;
  o.specialFloats = seed % 3 == 1;
  o.scalarOutput = seed % 11 == 0;
  o.namedFraction = static_cast<double>(seed % 5) / 4.0;
  o.scans = seed % 6 == 2; // graphs that hold functions
  return o;
}

TEST_CASE("text round trip: 400 random graphs print, parse and print identically") {
  size_t nodes = 0;
  std::set<OpKind> used;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    CAPTURE(seed);
    Graph g = randomGraph(seed, optionsFor(seed));
    nodes += g.size();
    for (const Node &n : g.nodes())
      used.insert(n.kind);
    checkRoundTrip(g);
  }
  MESSAGE("nodes in all random graphs: " << nodes);
  // The generator reaches every op.
  for (size_t k = 0; k < kNumOpKinds; ++k)
    CHECK_MESSAGE(used.count(static_cast<OpKind>(k)), opName(static_cast<OpKind>(k)));
}

TEST_CASE("random graphs: the same seed gives the same graph; options are honoured") {
  RandomGraphOptions o;
  o.nn = true;
  CHECK(printGraph(randomGraph(7, o)) == printGraph(randomGraph(7, o)));
  CHECK(printGraph(randomGraph(7, o)) != printGraph(randomGraph(8, o)));

  o.smoothOnly = true;
  o.dtype = DType::f32;
  o.numOps = 30;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Graph g = randomGraph(seed, o);
    for (const Node &n : g.nodes()) {
      CHECK(n.kind != OpKind::Relu);
      CHECK(n.kind != OpKind::Abs);
      CHECK(n.kind != OpKind::Where);
      CHECK(n.kind != OpKind::MaxPool2d);
      if (isFloat(n.type.dtype))
        CHECK(n.type.dtype == DType::f32);
    }
  }
  o.scalarOutput = true;
  Graph g = randomGraph(3, o);
  REQUIRE(g.outputs().size() == 1);
  CHECK(g.type(g.outputs()[0]).rank() == 0);
}

TEST_CASE("text round trip: uses may come before definitions") {
  const char *text = R"(graph fwd {
  %z = add(%y, %c) : f32[2]
  output %z, %1
  %y = neg(%x)
  %1 = exp(%0)
  input %x : f32[2]
  const %c : f32[2] = 1.0
  const %0 : f32[] = 2.0
})";
  // Each forward reference pulls its definition (and that one's operands)
  // up to just before the first user; the rest keeps the file's order.
  CHECK(printGraph(parseGraph(text)) == R"(graph fwd {
  input %x : f32[2]
  %y = neg(%x) : f32[2]
  const %c : f32[2] = 1.0
  %z = add(%y, %c) : f32[2]
  const %0 : f32[] = 2.0
  %1 = exp(%0) : f32[]
  output %z
  output %1
}
)");
}

TEST_CASE("text round trip: a file already in order keeps its order") {
  // Consts and params interleaved with ops, unnamed values numbered out of
  // order in the file: the order is kept, the numbering becomes canonical.
  const char *text = R"(graph kept {
  input %x : f64[3]
  %7 = exp(%x)
  const %k : f64[] = 3.0
  %2 = mul(%7, %k)
  param %p : f64[3]
  %out = add(%2, %p)
  output %out
})";
  CHECK(printGraph(parseGraph(text)) == R"(graph kept {
  input %x : f64[3]
  %0 = exp(%x) : f64[3]
  const %k : f64[] = 3.0
  %1 = mul(%0, %k) : f64[3]
  param %p : f64[3]
  %out = add(%1, %p) : f64[3]
  output %out
}
)");
}

// Rewrites of the same file that change only layout.
static std::vector<std::string> layoutVariants(const std::string &text) {
  std::vector<std::string> v;
  // Everything on one line.
  v.push_back(std::regex_replace(text, std::regex("\n"), " "));
  // No spaces around punctuation.
  v.push_back(std::regex_replace(text, std::regex(" *([{}()\\[\\],:=]) *"), "$1"));
  // Comments everywhere (with characters that would mean something outside
  // a comment), blank lines, tabs and CRLF line ends.
  std::string commented = "# leading comment: graph { } [ % \"\n\n";
  commented += std::regex_replace(text, std::regex("\n"), "\t# { ] = %x \" , \r\n\n\t");
  commented += "# a comment at the end without a newline";
  v.push_back(commented);
  // Lines indented oddly, blank lines between tokens of a statement.
  v.push_back(std::regex_replace(text, std::regex(" = "), "\n\n   =\n\t"));
  return v;
}

TEST_CASE("text round trip: comments and whitespace do not change the graph") {
  for (uint64_t seed = 1000; seed < 1040; ++seed) {
    CAPTURE(seed);
    RandomGraphOptions o = optionsFor(seed);
    o.specialFloats = false;
    std::string text = printGraph(randomGraph(seed, o));
    for (const std::string &variant : layoutVariants(text)) {
      INFO("variant:\n" << variant);
      CHECK(printGraph(parseGraph(variant)) == text);
    }
  }
}

// The same graph written with nested applications and with a function
// holding some of its nodes parses to a graph that prints as the original
// does (up to the names that inlining derives) and round-trips itself.
// Returns how many rewrites changed the text, so that callers can check
// that the rewrites were not all no-ops.
static int checkRewrites(const Graph &g, uint64_t seed) {
  using chainjit::testing::canonicalNames;
  std::string flat = printGraph(g);
  std::string want = canonicalNames(flat);
  int changed = 0;

  std::string nested = chainjit::testing::nestedForm(flat);
  changed += nested != flat;
  {
    INFO("nested source:\n" << nested);
    Graph back = parseGraph(nested, "nested.cj");
    // No names are derived here: the text is exactly the flat one.
    CHECK(printGraph(back) == flat);
  }

  // A run of 1..6 nodes starting at a seed-chosen node becomes a function.
  std::mt19937_64 rng(seed);
  for (int attempt = 0; attempt < 20; ++attempt) {
    NodeId first = static_cast<NodeId>(rng() % g.size());
    NodeId last = std::min<NodeId>(static_cast<NodeId>(g.size()),
                                   first + 1 + static_cast<NodeId>(rng() % 6));
    auto src = chainjit::testing::withFunction(g, first, last, "block");
    if (!src)
      continue;
    std::string both = chainjit::testing::nestedForm(*src);
    INFO("source with a function:\n" << both);
    Graph back = parseGraph(both, "func.cj");
    CHECK(back.size() == g.size());
    CHECK(canonicalNames(printGraph(back)) == want);
    checkRoundTrip(back);
    // The function, printed on its own, reads back to the same text.
    FunctionLibrary lib = parseFunctions(both, "func.cj");
    REQUIRE(lib.find("block"));
    std::string f = printFunction(*lib.find("block"));
    CHECK(printFunction(*parseFunctions(f).find("block")) == f);
    return changed + 1;
  }
  return changed;
}

TEST_CASE("text round trip: random graphs written with nested applications and functions") {
  int rewrites = 0;
  for (uint64_t seed = 1; seed <= 120; ++seed) {
    CAPTURE(seed);
    // The rewrites edit a graph's own lines; graphs with scans (whose
    // functions print first) are covered by the round trip above.
    RandomGraphOptions o = optionsFor(seed);
    o.scans = false;
    rewrites += checkRewrites(randomGraph(seed, o), seed);
  }
  // Most graphs have an unnamed value used once and a run of ops to wrap.
  CHECK(rewrites > 150);
}

TEST_CASE("text round trip: every example written with nested applications and functions") {
  int count = 0, rewrites = 0, withFunctions = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(std::filesystem::path(CHAINJIT_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".cj")
      continue;
    CAPTURE(entry.path().string());
    Graph g = parseGraphFile(entry.path().string());
    ++count;
    // The rewrites edit a graph's own lines; a model with scans prints its
    // functions first and is checked by the plain round trip.
    if (!g.functions().empty()) {
      checkRoundTrip(g);
      ++withFunctions;
      continue;
    }
    rewrites += checkRewrites(g, count);
  }
  CHECK(count >= 8);
  CHECK(rewrites >= count - withFunctions);
}
