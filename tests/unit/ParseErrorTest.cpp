// Bad .cj input: the corpus of malformed files under tests/malformed, each
// stating the error it must give, and mutated texts that must give a located
// chainjit::Error and nothing else.
#include "FileTesting.h"
#include "RandomGraph.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace chainjit;
using namespace chainjit::ir;
namespace fs = std::filesystem;

static std::string readFile(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every file begins with "# expect: <part of the error message>", as the
// command-line tool prints it; the part includes file:line:col, so the
// position is checked too.
TEST_CASE("malformed corpus: every file gives its expected error") {
  std::vector<fs::path> files;
  for (const auto &e : fs::directory_iterator(fs::path(CHAINJIT_TESTS_DIR) / "malformed"))
    if (e.path().extension() == ".cj")
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 40);

  const std::string marker = "# expect: ";
  for (const fs::path &file : files) {
    CAPTURE(file.filename().string());
    std::string text = readFile(file);
    REQUIRE_MESSAGE(text.rfind(marker, 0) == 0, "the first line must be '# expect: ...'");
    std::string expected = text.substr(marker.size(), text.find('\n') - marker.size());
    CHECK_MESSAGE(expected.find(file.filename().string() + ":") == 0,
                  "the expectation starts with the file's name and position");
    try {
      parseGraphFile(file.string());
      FAIL("parsed without an error");
    } catch (const Error &e) {
      std::string printed = chainjit::testing::cliMessage(e);
      CAPTURE(printed);
      CHECK(printed.find(expected) != std::string::npos);
    } catch (const std::exception &e) {
      FAIL("threw something other than chainjit::Error: " << e.what());
    }
  }
}

// Small random edits of valid texts and of the corpus: whatever the parser
// makes of them, it either returns a verified graph or throws a
// chainjit::Error whose first diagnostic has a line and column.
TEST_CASE("parser robustness: mutated texts give located errors, never anything else") {
  std::vector<std::string> seeds;
  for (uint64_t s = 1; s <= 12; ++s) {
    chainjit::testing::RandomGraphOptions o;
    o.nn = s % 2 == 0;
    o.updates = true;
    o.specialFloats = true;
    seeds.push_back(printGraph(chainjit::testing::randomGraph(s, o)));
  }
  for (const auto &e : fs::directory_iterator(fs::path(CHAINJIT_TESTS_DIR) / "malformed"))
    if (e.path().extension() == ".cj")
      seeds.push_back(readFile(e.path()));

  static const char *pieces[] = {
      "%", "[", "]", "{", "}", "(", ")", ",", ":", "=", "-", "#", "\"", "\\", "\n",
      "\x00", "\xff", "1e999", "99999999999999999999", "-9223372036854775809",
      "2147483648", "nan", "-inf", "graph", "input", "output %x", "update",
      "%0", "%x", "f16", "f32[", "bool[]", "0", "-1", "1.", "1e", "%1a", "\"\\q\"",
      "const %c : f32[3] = [1, 2]", "= [[[[", "]]]]", "{axes = [0.5]}", "\t",
      "func", "return", "func f(%x : f32[2]) {", "return %x", "neg(", "tanh(add(", ", %a = "};
  std::mt19937_64 rng(20240611);
  auto below = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };

  int errors = 0, parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = seeds[below(seeds.size())];
    for (int edits = 1 + static_cast<int>(below(3)); edits > 0; --edits) {
      size_t at = below(text.size() + 1);
      switch (below(4)) {
      case 0: text.erase(at, 1 + below(8)); break;
      case 1: {
        const char *p = pieces[below(std::size(pieces))];
        text.insert(at, std::string(p, p[0] ? std::strlen(p) : 1));
        break;
      }
      case 2: text.insert(at, text.substr(below(text.size() + 1), below(40))); break;
      default:
        if (at < text.size())
          text[at] = static_cast<char>(rng());
        break;
      }
    }
    CAPTURE(text);
    try {
      parseGraph(text, "mutated.cj");
      ++parsed;
    } catch (const Error &e) {
      ++errors;
      REQUIRE(!e.diagnostics().empty());
      CHECK(e.diagnostics().front().loc.hasPosition());
      CHECK(std::string(e.what()).find("internal error") == std::string::npos);
    } catch (const std::exception &e) {
      FAIL("threw something other than chainjit::Error: " << e.what());
    }
  }
  MESSAGE(errors << " mutated texts rejected, " << parsed << " still valid");
  CHECK(errors > 2000);
}

TEST_CASE("parse errors: every independent type error of a file is reported") {
  const char *text = "graph two {\n"
                     "  input %a : f32[2, 3]\n"
                     "  input %b : f32[4]\n"
                     "  %s = add(%a, %b)\n"
                     "  %t = matmul(%a, %a)\n"
                     "  %u = relu(%s)\n"
                     "  output %t\n"
                     "  output %u\n"
                     "}\n";
  try {
    chainjit::ir::parseGraph(text, "two.cj");
    FAIL("expected an error");
  } catch (const chainjit::Error &e) {
    // add and matmul fail on their own; relu only uses the failed add.
    REQUIRE(e.diagnostics().size() == 2);
    CHECK(e.diagnostics()[0].str() ==
          "two.cj:4:3: in %s: error: add: shapes [2, 3] and [4] do not broadcast");
    CHECK(std::string(e.diagnostics()[1].str()).find("two.cj:5:3: in %t: error: matmul") == 0);
  }
}
