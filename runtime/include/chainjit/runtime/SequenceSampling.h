// Autoregressive generation from a trained token model (a language model
// such as examples/char_transformer.cj): each sequence starts with <begin>
// (and an optional prefix), the model's logits at the last position give
// the distribution of the next token, one token is drawn, and so on until
// <end> or a maximum length. The model is compiled once (the JIT by
// default) and run for a batch of sequences at a time, at its own batch
// size B and context T: while a sequence is shorter than T it fills the
// window from the left (the causal mask makes the positions after it
// irrelevant); once it is longer, the window slides and holds its last T
// tokens. Draws come from the counter-based generator (ir/CounterRng.h) keyed
// by (seed, sequence number, step), so a seed gives the same sequences on
// any backend and for any count of sequences before it.
//
// With temperature τ the next token is drawn with probability
// softmax(logits / τ), over every token but <pad> and <begin>; τ → 0 tends to
// the argmax, and τ = 0 is the argmax itself (greedy decoding).
#pragma once

#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Vocabulary.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chainjit::runtime {

// Where a model takes its tokens and gives its logits.
struct TokenModelSignature {
  std::string tokens;    // the i32 [B, T] input
  std::string logits;    // the float [B * T, V] or [B, T, V] output
  int64_t batch = 0;     // B
  int64_t context = 0;   // T
  int64_t vocabSize = 0; // V
};

// Finds them in `model`: the input named `tokens` (default: the first i32
// input of rank 2) and the value named `logits` (default: the first output
// of shape [B * T, V] or [B, T, V]). Throws chainjit::Error naming the
// model and what does not fit.
TokenModelSignature inspectTokenModel(const ir::Graph &model, const std::string &tokens = "",
                                      const std::string &logits = "");

struct SampleOptions {
  int64_t count = 1;        // sequences to draw, >= 1
  double temperature = 1.0; // >= 0, finite
  uint64_t seed = 0;
  int64_t maxLength = 32;      // tokens per sequence at most, the prefix included
  std::vector<int32_t> prefix; // ordinary tokens every sequence starts with
};

struct SampledSequence {
  std::vector<int32_t> tokens; // the prefix and the drawn tokens, without <begin> and <end>
  bool ended = false;          // drawn up to <end> (false: cut at maxLength)
};

class SequenceSampler {
public:
  // Prunes `model` to its logits in eval mode (no labels, no loss, no
  // dropout), checks that its vocabulary size is `vocab`'s and compiles it
  // on `backend`.
  SequenceSampler(const ir::Graph &model, Vocabulary vocab, Backend backend = Backend::Jit,
                  const std::string &tokens = "", const std::string &logits = "");

  // Draws `options.count` sequences with the params in `params` (by name;
  // a param not there takes its initializer, as in Executable::run).
  // Throws chainjit::Error on bad options (naming the option and the
  // allowed range) before anything runs.
  std::vector<SampledSequence> sample(const Bindings &params, const SampleOptions &options) const;

  // The text of a sequence (its symbols joined).
  std::string text(const SampledSequence &s) const { return vocab_.decode(s.tokens); }

  const TokenModelSignature &signature() const { return sig_; }
  const Vocabulary &vocabulary() const { return vocab_; }
  const Executable &executable() const { return *exe_; }

private:
  TokenModelSignature sig_;
  Vocabulary vocab_;
  std::unique_ptr<Executable> exe_;
};

// The token drawn from one row of logits: softmax(logits / temperature)
// over the ids `allowed` marks, sampled with the uniform number `u` in
// [0, 1) (temperature 0: the allowed argmax, the lowest id on a tie).
// Throws when no id is allowed or an allowed logit is NaN.
int32_t drawToken(const std::vector<double> &logits, const std::vector<bool> &allowed,
                  double temperature, double u);

} // namespace chainjit::runtime
