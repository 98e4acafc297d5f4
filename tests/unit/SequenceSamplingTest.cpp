// runtime::Vocabulary and runtime::SequenceSampler (SequenceSampling.h): vocabulary files,
// the draw of one token, and autoregressive generation through a compiled
// model: determinism by seed, the temperature, the sliding window, the
// prefix and the maximum length, and clear errors for bad options.
#include "chainjit/runtime/SequenceSampling.h"
#include "chainjit/ir/Parser.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <cmath>
#include <set>

using namespace chainjit;
using namespace chainjit::runtime;
using chainjit::testing::errorOf;
using chainjit::testing::TempFile;

namespace {

// ids: <pad> 0, <begin> 1, <end> 2, a 3, b 4, c 5.
Vocabulary abc() { return Vocabulary({"<pad>", "<begin>", "<end>", "a", "b", "c"}); }

// The logits at every position are the table's row of the window's FIRST
// token: while the window starts with <begin> they stay the same, and they
// change exactly when the window slides (context 4, batch 2).
const char *kFirstTokenModel = R"(
graph first_token {
  input %tokens : i32[2, 4]
  param %table : f32[6, 6]
  %e = gather(%table, %tokens)
  %first = slice(%e) {starts = [0, 0, 0], ends = [2, 1, 6]}
  %logits = broadcast_to(%first) {shape = [2, 4, 6]}
  output %logits
}
)";

// A bigram model: the logits at each position are the table's row of the
// token there, flattened to [B * T, V] as a language model's head gives them.
const char *kBigramModel = R"(
graph bigram {
  input %tokens : i32[2, 4]
  input %targets : i32[2, 4]
  param %table : f32[6, 6]
  %e = gather(%table, %tokens)
  %logits = reshape(%e) {shape = [8, 6]}
  %loss = cross_entropy(%logits, reshape(%targets) {shape = [8]})
  output %loss
  output %logits
}
)";

ir::Tensor table(const std::vector<double> &rows) { return ir::Tensor(ir::f32({6, 6}), rows); }

// Spread-out bigram logits: every symbol and <end> likely after each letter.
Bindings bigramParams() {
  return {{"table", table({0, 0, 0,   0,   0,   0,       // <pad>
                           0, 0, -9,  1.0, 0.5, 0.2,     // <begin>: a letter
                           0, 0, 0,   0,   0,   0,       // <end>
                           0, 0, 0.3, 0.1, 0.9, 0.6,     // a
                           0, 0, 0.4, 0.8, 0.0, 0.5,     // b
                           0, 0, 0.6, 0.7, 0.4, 0.1})}}; // c
}

std::vector<std::string> texts(const SequenceSampler &s, const std::vector<SampledSequence> &seqs) {
  std::vector<std::string> t;
  for (const SampledSequence &q : seqs)
    t.push_back(s.text(q));
  return t;
}

} // namespace

TEST_CASE("vocabulary: a file of a symbol per line, the longest symbol first, no specials in text") {
  TempFile f("vocab.txt", "<pad>\n<begin>\n<end>\na\nb\nab\n'\r\n");
  Vocabulary v = Vocabulary::load(f.str());
  CHECK(v.size() == 7);
  CHECK(v.begin() == 1);
  CHECK(v.end() == 2);
  CHECK(v.pad() == std::optional<int32_t>(0));
  CHECK(v.symbol(6) == "'"); // the \r of a CRLF line is not part of the symbol
  CHECK(v.encode("abba'") == std::vector<int32_t>{5, 4, 3, 6});
  CHECK(v.decode({1, 5, 4, 2}) == "abb");
  CHECK(v.isSpecial(0));
  CHECK_FALSE(v.isSpecial(3));
  CHECK(errorOf([&] { v.encode("abx", "--prefix"); }) ==
        "error: --prefix 'abx': 'x' at byte 2 is not in the vocabulary " + f.str());
  CHECK(errorOf([&] { v.decode({7}); }) ==
        f.str() + ": error: token id 7 is outside the vocabulary [0, 7)");
}

TEST_CASE("vocabulary: bad files are errors naming the file and the line") {
  TempFile noEnd("noend.txt", "<begin>\na\n");
  CHECK(errorOf([&] {
          Vocabulary::load(noEnd.str());
        }).find(noEnd.str() + ": error: has no <end> symbol") == 0);
  TempFile repeated("rep.txt", "<begin>\n<end>\na\nb\na\n");
  CHECK(errorOf([&] { Vocabulary::load(repeated.str()); }) ==
        repeated.str() + ": error: symbol 'a' is repeated (first at id 2) (line 5, id 4)");
  TempFile blank("blank.txt", "<begin>\n<end>\n\na\n");
  CHECK(errorOf([&] { Vocabulary::load(blank.str()); }) ==
        blank.str() + ": error: empty symbol (line 3, id 2)");
  TempFile onlySpecial("special.txt", "<pad>\n<begin>\n<end>\n");
  CHECK(errorOf([&] { Vocabulary::load(onlySpecial.str()); }).find("only special symbols") !=
        std::string::npos);
  TempFile empty("empty.txt", "");
  CHECK(errorOf([&] { Vocabulary::load(empty.str()); }) ==
        empty.str() + ": error: the vocabulary file is empty");
  CHECK(errorOf([] { Vocabulary::load("/nonexistent/vocab.txt"); }) ==
        "/nonexistent/vocab.txt: error: no such vocabulary file");
}

TEST_CASE("drawToken: temperature 0 is the argmax, small ones approach it, u walks the weights") {
  std::vector<double> logits{5.0, 1.0, 2.0, 2.5};
  std::vector<bool> all(4, true), no0{false, true, true, true};
  CHECK(drawToken(logits, all, 0.0, 0.99) == 0);
  CHECK(drawToken(logits, no0, 0.0, 0.5) == 3); // a disallowed id is never drawn
  // Probabilities at τ = 1 without id 0: e^1, e^2, e^2.5 over their sum.
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(2.5);
  double p1 = std::exp(1.0) / z, p2 = std::exp(2.0) / z;
  CHECK(drawToken(logits, no0, 1.0, p1 * 0.999) == 1);
  CHECK(drawToken(logits, no0, 1.0, p1 * 1.001) == 2);
  CHECK(drawToken(logits, no0, 1.0, (p1 + p2) * 1.001) == 3);
  // τ → 0: even u close to 1 draws the argmax.
  for (double tau : {0.01, 1e-6})
    for (double u : {0.001, 0.5, 0.999999})
      CHECK(drawToken(logits, no0, tau, u) == 3);
  // A high temperature flattens: u = 0.3 lands on id 1 at τ = 100 (p ≈ 1/3 each), not at τ = 1.
  CHECK(drawToken(logits, no0, 1.0, 0.3) == 2);
  CHECK(drawToken(logits, no0, 100.0, 0.3) == 1);
  CHECK(errorOf([&] {
          drawToken({0.0, NAN}, {true, true}, 1.0, 0.5);
        }) == "error: the model's logit of token 1 is NaN (are the params finite?)");
  CHECK(errorOf([&] {
          drawToken({0.0, 1.0}, {false, false}, 1.0, 0.5);
        }) == "error: no token the sampler may draw has a finite logit");
}

TEST_CASE("SequenceSampler: the window slides once a sequence is longer than the context") {
  // Greedy: <begin> -> a while the window starts with <begin> (4 steps);
  // then the window [a a a a] starts with a -> b, until [b b b b] -> <end>.
  Bindings params{{"table", table({0, 0, 0, 0, 0, 0,     // <pad>
                                   0, 0, 0, 9, 0, 0,     // <begin> -> a
                                   0, 0, 0, 0, 0, 0,     // <end>
                                   0, 0, 0, 0, 9, 0,     // a -> b
                                   0, 0, 9, 0, 0, 0,     // b -> <end>
                                   0, 0, 0, 0, 0, 0})}}; // c
  for (Backend backend : {Backend::Jit, Backend::Interp}) {
    SequenceSampler s(ir::parseGraph(kFirstTokenModel), abc(), backend);
    CHECK(s.signature().batch == 2);
    CHECK(s.signature().context == 4);
    CHECK(s.signature().logits == "logits");
    std::vector<SampledSequence> out = s.sample(params, {.count = 3, .temperature = 0});
    REQUIRE(out.size() == 3);
    for (const SampledSequence &q : out) {
      CHECK(s.text(q) == "aaaabbbb");
      CHECK(q.ended);
    }
  }
}

TEST_CASE("SequenceSampler: a seed fixes the sequences, another gives others, all in the vocabulary") {
  SequenceSampler jit(ir::parseGraph(kBigramModel), abc(), Backend::Jit);
  CHECK(jit.signature().tokens == "tokens");
  CHECK(jit.signature().vocabSize == 6);
  // The pruned graph needs no targets (and computes no loss).
  CHECK_FALSE(jit.executable().graph().find("targets"));
  SampleOptions o{.count = 7, .temperature = 1.0, .seed = 11, .maxLength = 12};
  std::vector<std::string> a = texts(jit, jit.sample(bigramParams(), o));
  REQUIRE(a.size() == 7); // 4 batches of 2, the last half full
  CHECK(texts(jit, jit.sample(bigramParams(), o)) == a);
  o.seed = 12;
  std::vector<std::string> b = texts(jit, jit.sample(bigramParams(), o));
  CHECK(b != a);
  std::set<std::string> distinct(a.begin(), a.end());
  CHECK(distinct.size() >= 4); // temperature 1 spreads the draws
  for (const SampledSequence &q : jit.sample(bigramParams(), o)) {
    CHECK(q.tokens.size() <= 12);
    CHECK_FALSE(q.tokens.empty()); // <begin> cannot be followed by <end> (logit -9)... mostly
    for (int32_t id : q.tokens)
      CHECK((id >= 3 && id <= 5)); // letters only: no <pad>, <begin> or <end> inside
  }
  // Sequence i depends on (seed, i) only: the first 3 of 7 are the 3 of a count of 3,
  // and the interpreter draws the same.
  o.seed = 11;
  o.count = 3;
  CHECK(texts(jit, jit.sample(bigramParams(), o)) ==
        std::vector<std::string>(a.begin(), a.begin() + 3));
  SequenceSampler interp(ir::parseGraph(kBigramModel), abc(), Backend::Interp);
  CHECK(texts(interp, interp.sample(bigramParams(), o)) ==
        std::vector<std::string>(a.begin(), a.begin() + 3));
}

TEST_CASE("SequenceSampler: temperature towards 0 gives the greedy sequence for every seed") {
  SequenceSampler s(ir::parseGraph(kBigramModel), abc(), Backend::Jit);
  SampleOptions greedy{.count = 2, .temperature = 0, .maxLength = 10};
  std::vector<std::string> g = texts(s, s.sample(bigramParams(), greedy));
  // <begin> -> a (1.0), a -> b (0.9), b -> a (0.8), ...: "ababababab", cut at 10.
  CHECK(g == std::vector<std::string>{"ababababab", "ababababab"});
  for (uint64_t seed : {1, 2, 3}) {
    SampleOptions cold{.count = 2, .temperature = 1e-4, .seed = seed, .maxLength = 10};
    CHECK(texts(s, s.sample(bigramParams(), cold)) == g);
  }
}

TEST_CASE("SequenceSampler: a prefix starts every sequence, and the maximum length counts it") {
  SequenceSampler s(ir::parseGraph(kBigramModel), abc(), Backend::Jit);
  Vocabulary v = abc();
  SampleOptions o{.count = 4, .temperature = 0, .maxLength = 5, .prefix = v.encode("cc")};
  for (const SampledSequence &q : s.sample(bigramParams(), o)) {
    // c -> a (0.7), a -> b, b -> a: "ccaba", cut at 5 tokens before any <end>.
    CHECK(s.text(q) == "ccaba");
    CHECK_FALSE(q.ended);
  }
}

TEST_CASE("SequenceSampler: bad options, vocabularies and models are clear errors") {
  ir::Graph bigram = ir::parseGraph(kBigramModel);
  SequenceSampler s(bigram, abc(), Backend::Interp);
  auto sampleWith = [&](SampleOptions o) { return errorOf([&] { s.sample(bigramParams(), o); }); };
  CHECK(sampleWith({.count = 0}) ==
        "error: the count of sequences is 0; it must be in [1, 1000000]");
  CHECK(sampleWith({.temperature = -1}) ==
        "error: the temperature is -1; it must be a finite number >= 0 (0: always the most "
        "likely token)");
  CHECK(sampleWith({.temperature = NAN}).find("the temperature is nan") != std::string::npos);
  CHECK(sampleWith({.maxLength = 0}) ==
        "error: the maximum length is 0; it must be in [1, 100000]");
  CHECK(sampleWith({.maxLength = 2, .prefix = {3, 4}}) ==
        "error: the prefix has 2 tokens, but the maximum length is 2 (it counts the prefix): "
        "nothing is left to draw");
  CHECK(sampleWith({.prefix = {1}}).find("the prefix holds token 1, which is no ordinary symbol") !=
        std::string::npos);
  CHECK(errorOf([&] {
          s.sample({{"tokens", ir::Tensor(ir::TensorType{ir::DType::i32, {2, 4}})}}, {});
        }) == "error: the bindings hold the tokens %tokens, which the sampler feeds");

  CHECK(errorOf([&] {
          SequenceSampler(bigram, Vocabulary({"<begin>", "<end>", "a"}, "v.txt"));
        }) ==
        "v.txt: error: has 3 symbols, but the logits %logits of model 'bigram' score 6 tokens "
        "(the vocabulary the model was trained with?)");
  CHECK(errorOf([&] { SequenceSampler(bigram, abc(), Backend::Jit, "targetz"); }) ==
        "error: model 'bigram' has no input %targetz : i32[B, T] (the tokens)");
  CHECK(errorOf([&] { SequenceSampler(bigram, abc(), Backend::Jit, "", "loss"); }) ==
        "error: model 'bigram' has no value %loss of logits (float [8, V] or [2, 4, V] for "
        "%tokens : i32[2, 4])");
  CHECK(errorOf([] {
          SequenceSampler(ir::parseGraph("graph f { input %x : f32[2, 3]\n output %x }"), abc());
        }) == "error: model 'f' has no i32[B, T] input for the tokens (a batch of B windows of T "
              "tokens)");
  // Logits that need another input than the tokens cannot be sampled.
  CHECK(errorOf([] {
          SequenceSampler(ir::parseGraph(R"(graph m {
                    input %tokens : i32[2, 4]
                    input %bias : f32[6]
                    param %table : f32[6, 6]
                    %logits = add(reshape(gather(%table, %tokens)) {shape = [8, 6]}, %bias)
                    output %logits })"),
                          abc());
        }) == "error: the logits %logits of model 'm' depend on the input %bias besides the "
              "tokens; sampling feeds only %tokens");
}
