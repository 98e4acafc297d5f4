// The DOT and JSON renderings of a graph: DOT has one node statement per
// node and one edge per use; JSON parses back with nlohmann::json and carries
// every field of the schema in docs/cli.md.
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Dot.h"
#include "chainjit/ir/Json.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <regex>
#include <sstream>

using namespace chainjit;
using namespace chainjit::ir;

namespace {

// A small model with every kind of node: inputs, params (one with a string
// attribute), consts (splat and not), ops with attributes, two outputs and
// an update.
Graph sampleGraph() {
  Graph g("sample");
  Value x = input(g, "x", f32({4, 3}));
  Value W = param(g, "W", f32({3, 2}), {{"init", "glorot"}, {"seed", int64_t{7}}});
  Value count = param(g, "count", f32(), {{"trainable", false}});
  Value c = constant(g, Tensor(f32({2}), {0.1, NAN}), "c");
  Value h = relu(matmul(x, W) + c).named("h");
  Value s = sum(h, {1}).named("s");
  output(s);
  output(argmax(h, 1));
  update(count, count + 1.0);
  return g;
}

} // namespace

TEST_CASE("dot: one node statement per graph node, one edge per use") {
  Graph g = sampleGraph();
  std::string dot = printDot(g);
  CHECK(dot.rfind("digraph G {", 0) == 0);
  std::regex nodeLine(R"(^(\d+)\[label=)");
  std::regex edgeLine(R"(^(\d+)->(\d+) ?)");
  std::istringstream in(dot);
  std::string line;
  size_t nodes = 0, edges = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, nodeLine)) {
      CHECK(std::stoul(m[1]) == nodes);
      ++nodes;
    } else if (std::regex_search(line, m, edgeLine)) {
      ++edges;
    }
  }
  CHECK(nodes == g.size());
  size_t uses = g.updates().size();
  for (const Node &n : g.nodes())
    uses += n.operands.size();
  CHECK(edges == uses);
  // Labels carry name, op, type and non-default attributes; kinds are styled.
  CHECK(dot.find(R"(label="%W\nparam : f32[3, 2]\ninit = \"glorot\"\nseed = 7")") !=
        std::string::npos);
  CHECK(dot.find(R"(%s\nsum : f32[4]\naxes = [1])") != std::string::npos);
  CHECK(dot.find("shape=invhouse") != std::string::npos); // input
  CHECK(dot.find("shape=box3d") != std::string::npos);    // param
  CHECK(dot.find("shape=note") != std::string::npos);     // const
  CHECK(dot.find("peripheries=2") != std::string::npos);  // output
  CHECK(dot.find(R"(label="update", style=dashed)") != std::string::npos);
  CHECK(dot.find(R"(label="graph sample")") != std::string::npos);
}

TEST_CASE("json: parses back and has the documented fields") {
  Graph g = sampleGraph();
  nlohmann::json j = nlohmann::json::parse(printJson(g));
  CHECK(j["format"] == "chainjit-graph");
  CHECK(j["version"] == 1);
  CHECK(j["graph"] == "sample");
  REQUIRE(j["nodes"].size() == g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const nlohmann::json &n = j["nodes"][i];
    const Node &node = g.node(static_cast<NodeId>(i));
    CHECK(n["id"] == i);
    CHECK(n["op"] == opName(node.kind));
    CHECK(n["operands"].get<std::vector<NodeId>>() == node.operands);
    CHECK(n["type"]["dtype"] == dtypeName(node.type.dtype));
    CHECK(n["type"]["shape"].get<Shape>() == node.type.shape);
    CHECK(n["attrs"].size() == node.attrs.size());
    if (node.name.empty())
      CHECK(n["name"].is_null());
    else
      CHECK(n["name"] == node.name);
    CHECK(n.contains("value") == (node.kind == OpKind::Const));
  }
  const nlohmann::json &W = j["nodes"][g.lookup("W")];
  CHECK(W["attrs"]["init"] == nlohmann::json({{"kind", "string"}, {"value", "glorot"}}));
  CHECK(W["attrs"]["seed"] == nlohmann::json({{"kind", "int"}, {"value", 7}}));
  CHECK(W["attrs"]["scale"] == nlohmann::json({{"kind", "float"}, {"value", 1.0}}));
  CHECK(W["attrs"]["trainable"] == nlohmann::json({{"kind", "bool"}, {"value", true}}));
  CHECK(j["nodes"][g.lookup("s")]["attrs"]["axes"] ==
        nlohmann::json({{"kind", "ints"}, {"value", {1}}}));
  // f32 values in their shortest form; NaN as a string.
  CHECK(j["nodes"][g.lookup("c")]["value"] == nlohmann::json({0.1, "nan"}));
  CHECK(j["outputs"].get<std::vector<NodeId>>() == g.outputs());
  REQUIRE(j["updates"].size() == 1);
  CHECK(j["updates"][0]["param"] == g.lookup("count"));
  CHECK(j["updates"][0]["value"] == g.updates()[0].value);
  // One line when asked.
  CHECK(printJson(g, -1).find('\n') == printJson(g, -1).size() - 1);
}
