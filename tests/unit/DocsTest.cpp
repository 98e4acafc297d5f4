// Keeps docs/ and examples/ true: every ```cj block of docs/ir.md parses, and
// together the blocks use every op; every example model parses; builder.md
// lists the whole builder API; no link leaves the repository. (The ```cpp
// blocks are compiled by tests/docs/CMakeLists.txt.)
#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
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

// Whitespace runs become one space, so a declaration split over lines in a
// header compares equal to the same declaration on one line of a doc.
static std::string collapseSpaces(const std::string &s) {
  std::string out;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' '))
      continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

static std::string withoutLineComments(const std::string &s) {
  std::string out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    out += line.substr(0, line.find("//")) + "\n";
  return out;
}

TEST_CASE("docs: builder.md lists every function of Builder.h with its signature") {
  const std::filesystem::path root(CHAINJIT_SOURCE_DIR);
  std::string header = withoutLineComments(readFile(root / "ir/include/chainjit/ir/Builder.h"));
  std::string md = readFile(root / "docs/builder.md");

  // Value's members, then the free functions (the class taken out first).
  size_t classAt = header.find("class Value {");
  size_t classEnd = header.find("\n};", classAt);
  REQUIRE(classAt != std::string::npos);
  REQUIRE(classEnd != std::string::npos);
  std::string members = collapseSpaces(header.substr(classAt, classEnd - classAt));
  header.erase(classAt, classEnd + 3 - classAt);

  std::vector<std::string> declarations;
  static const std::regex member(R"([A-Za-z]+ &?[a-z][A-Za-z]*\([^()]*\) const)");
  for (std::sregex_iterator it(members.begin(), members.end(), member), end; it != end; ++it)
    declarations.push_back(it->str());
  static const std::regex function(R"((Value|void) (operator[-+*/]|[A-Za-z0-9]+)\(.*\)$)");
  std::istringstream statements(header);
  std::string statement;
  while (std::getline(statements, statement, ';')) {
    std::string s = collapseSpaces(statement);
    std::smatch m;
    if (std::regex_search(s, m, function))
      declarations.push_back(m.str());
  }
  CHECK(declarations.size() >= 70);
  for (const std::string &d : declarations) {
    INFO("docs/builder.md lacks `" << d << "`");
    CHECK(md.find("`" + d + "`") != std::string::npos);
  }
}

// Markdown without its fenced blocks and `code spans`.
static std::string withoutCode(const std::string &md) {
  std::string out;
  std::istringstream in(md);
  std::string line;
  bool fenced = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (fenced)
      continue;
    bool span = false;
    for (char c : line) {
      if (c == '`')
        span = !span;
      else if (!span)
        out += c;
    }
    out += '\n';
  }
  return out;
}

// A merge left half-done shows as conflict markers in any text file.
TEST_CASE("repository: no merge-conflict markers in sources, tests or docs") {
  const std::filesystem::path root(CHAINJIT_SOURCE_DIR);
  static const std::vector<std::string> textExtensions{
      ".h", ".cpp", ".c", ".md", ".cj", ".txt", ".cmake", ".sh", ".py", ".in"};
  std::vector<std::string> found;
  for (const char *dir : {"ir", "compiler", "runtime", "tools", "tests", "docs", "examples",
                          "bench", "fuzz", "include", "cmake", "python", "nn", "frontends"}) {
    if (!std::filesystem::exists(root / dir))
      continue;
    for (const auto &e : std::filesystem::recursive_directory_iterator(root / dir)) {
      std::string ext = e.path().extension().string();
      if (!e.is_regular_file() ||
          std::find(textExtensions.begin(), textExtensions.end(), ext) == textExtensions.end())
        continue;
      std::istringstream in(readFile(e.path()));
      std::string line;
      while (std::getline(in, line))
        if (line.rfind("<<<<<<< ", 0) == 0 || line.rfind(">>>>>>> ", 0) == 0)
          found.push_back(e.path().lexically_relative(root).string());
    }
  }
  std::istringstream readme(readFile(root / "README.md"));
  for (std::string line; std::getline(readme, line);)
    if (line.rfind("<<<<<<< ", 0) == 0 || line.rfind(">>>>>>> ", 0) == 0)
      found.push_back("README.md");
  for (const std::string &f : found)
    FAIL_CHECK("a merge-conflict marker in " << f);
}

// CTest cuts a test's name at ';' (a list separator in CMake), so a case named
// with one would be registered under a shortened name that runs nothing.
TEST_CASE("repository: no unit test case has a semicolon in its name") {
  const std::filesystem::path unit = std::filesystem::path(CHAINJIT_SOURCE_DIR) / "tests" / "unit";
  const std::regex named(R"re(TEST_CASE\("([^"]*)")re");
  int cases = 0;
  for (const auto &e : std::filesystem::directory_iterator(unit)) {
    if (e.path().extension() != ".cpp")
      continue;
    std::string text = readFile(e.path());
    for (std::sregex_iterator it(text.begin(), text.end(), named), end; it != end; ++it) {
      ++cases;
      if ((*it)[1].str().find(';') != std::string::npos)
        FAIL_CHECK(e.path().filename().string() << ": TEST_CASE(\"" << (*it)[1].str() << "\")");
    }
  }
  CHECK(cases > 300);
}

// The docs stand alone: no link or path leads out of the repository (the
// design notes next to it are not shipped), and every relative link names a
// file that exists.
TEST_CASE("docs: every link of README.md and docs/ stays inside the repository") {
  const std::filesystem::path root = std::filesystem::weakly_canonical(CHAINJIT_SOURCE_DIR);
  std::vector<std::filesystem::path> pages = {root / "README.md"};
  for (const auto &e : std::filesystem::directory_iterator(root / "docs"))
    if (e.path().extension() == ".md")
      pages.push_back(e.path());
  REQUIRE(pages.size() >= 10);
  static const std::regex link(R"(\]\(([^)\s]+)\))");
  int links = 0;
  for (const auto &page : pages) {
    std::string md = readFile(page);
    INFO(page.filename().string());
    CHECK(md.find("../shared") == std::string::npos);
    CHECK(md.find("shared/design") == std::string::npos);
    std::string prose = withoutCode(md); // `tan[F](adj[G])` is no link
    for (std::sregex_iterator it(prose.begin(), prose.end(), link), end; it != end; ++it) {
      std::string target = (*it)[1].str();
      if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 ||
          target[0] == '#')
        continue;
      target = target.substr(0, target.find('#'));
      auto resolved = std::filesystem::weakly_canonical(page.parent_path() / target);
      INFO("link " << (*it)[1].str() << " -> " << resolved.string());
      auto rel = resolved.lexically_relative(root).string();
      CHECK((!rel.empty() && rel.rfind("..", 0) != 0));
      CHECK(std::filesystem::exists(resolved));
      ++links;
    }
  }
  CHECK(links >= 10);
}
