// Keeps docs/ and examples/ true: every ```cj block of docs/ir.md parses, and
// together the blocks use every op; every example model parses.
#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace chainjit;
using namespace chainjit::ir;

static std::string readFile(const std::filesystem::path &p) {
  std::ifstream in(p);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fenced blocks of a Markdown file tagged with `lang`.
static std::vector<std::string> codeBlocks(const std::string &md,
                                           const std::string &lang) {
  std::vector<std::string> blocks;
  std::istringstream in(md);
  std::string line, cur;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line == "```" + lang) {
      inside = true;
      cur.clear();
    } else if (inside && line == "```") {
      inside = false;
      blocks.push_back(cur);
    } else if (inside) {
      cur += line + "\n";
    }
  }
  return blocks;
}

TEST_CASE("docs: every example in ir.md parses and together they use every op") {
  std::string md = readFile(std::filesystem::path(CHAINJIT_SOURCE_DIR) / "docs/ir.md");
  auto blocks = codeBlocks(md, "cj");
  REQUIRE(blocks.size() >= 8);
  std::set<OpKind> used;
  for (size_t i = 0; i < blocks.size(); ++i) {
    INFO("block " << i << ":\n" << blocks[i]);
    Graph g = parseGraph(blocks[i], "docs/ir.md block " + std::to_string(i));
    for (const Node &n : g.nodes())
      used.insert(n.kind);
    // The printed form of a documented graph parses back identically.
    CHECK(printGraph(parseGraph(printGraph(g))) == printGraph(g));
  }
  for (size_t k = 0; k < kNumOpKinds; ++k) {
    INFO("op '" << opName(static_cast<OpKind>(k)) << "' has no example in docs/ir.md");
    CHECK(used.count(static_cast<OpKind>(k)) == 1);
  }
}

TEST_CASE("examples: every model in examples/ parses and round-trips") {
  int count = 0;
  for (const auto &entry : std::filesystem::directory_iterator(
           std::filesystem::path(CHAINJIT_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".cj")
      continue;
    INFO(entry.path());
    Graph g = parseGraphFile(entry.path().string());
    CHECK(!g.outputs().empty());
    CHECK(printGraph(parseGraph(printGraph(g))) == printGraph(g));
    ++count;
  }
  CHECK(count >= 4);
}

TEST_CASE("docs: every derivative convention is documented") {
  std::string md = readFile(std::filesystem::path(CHAINJIT_SOURCE_DIR) / "docs/ir.md");
  for (size_t k = 0; k < kNumOpKinds; ++k) {
    const DerivativeRules &r = derivativeRules(static_cast<OpKind>(k));
    if (r.convention.empty())
      continue;
    std::string row = "| `" + std::string(opName(r.kind)) + "` | " + std::string(r.convention) + " |";
    INFO("docs/ir.md lacks the row: " << row);
    CHECK(md.find(row) != std::string::npos);
  }
}
