// chainjit sample MODEL.cj --params FILE --vocab FILE [--count N]
//                 [--temperature T] [--seed S] [--max-length L] [--prefix P]
//                 [--tokens NAME] [--logits NAME] [--backend jit|interp]
// Generates sequences (words, for examples/char_transformer.cj) from a
// trained token model, one per line on standard output. The work is
// runtime::SequenceSampler's (SequenceSampling.h); this file reads the files and prints.
#include "Commands.h"

#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/SequenceSampling.h"
#include "chainjit/runtime/Weights.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

namespace chainjit::cli {

namespace {

struct SampleCommandOptions {
  std::string model;
  std::string paramsFile;
  std::string vocab;
  int64_t count = 10;
  double temperature = 1.0;
  int64_t seed = 0;
  int64_t maxLength = 32;
  std::string prefix;
  std::string tokens;
  std::string logits;
  std::string backend = "jit";
};

// Bad numbers are usage errors (exit 2), found before any file is read.
void checkOptions(const SampleCommandOptions &o) {
  if (o.count < 1 || o.count > 1'000'000)
    throw UsageError("--count " + std::to_string(o.count) + ": must be in [1, 1000000]");
  if (!std::isfinite(o.temperature) || o.temperature < 0) {
    std::ostringstream t;
    t << o.temperature;
    throw UsageError("--temperature " + t.str() +
                     ": must be a finite number >= 0 (0: always the most likely token)");
  }
  if (o.seed < 0)
    throw UsageError("--seed " + std::to_string(o.seed) + ": must be at least 0");
  if (o.maxLength < 1 || o.maxLength > 100'000)
    throw UsageError("--max-length " + std::to_string(o.maxLength) + ": must be in [1, 100000]");
}

int runSample(const SampleCommandOptions &o) {
  checkOptions(o);
  ir::Graph model = ir::parseGraphFile(o.model);
  runtime::Vocabulary vocab = runtime::Vocabulary::load(o.vocab);
  runtime::SampleOptions so;
  so.count = o.count;
  so.temperature = o.temperature;
  so.seed = static_cast<uint64_t>(o.seed);
  so.maxLength = o.maxLength;
  so.prefix = vocab.encode(o.prefix, "--prefix");
  runtime::SequenceSampler sampler(model, std::move(vocab), runtime::parseBackend(o.backend),
                                   o.tokens, o.logits);
  runtime::Weights weights = runtime::loadWeights(o.paramsFile);
  runtime::Bindings params =
      runtime::bindParams(sampler.executable().graph(), weights.params, o.paramsFile);
  std::vector<runtime::SampledSequence> out = sampler.sample(params, so);
  int64_t cut = 0;
  for (const runtime::SampledSequence &s : out) {
    std::cout << sampler.text(s) << "\n";
    cut += s.ended ? 0 : 1;
  }
  std::cout.flush();
  if (!std::cout)
    throw Error("cannot write the samples", SourceLoc{"<stdout>"});
  const runtime::TokenModelSignature &sig = sampler.signature();
  std::cerr << "sampled " << out.size() << " sequences from model '" << model.name() << "' (%"
            << sig.tokens << " [" << sig.batch << ", " << sig.context << "] -> %" << sig.logits
            << ", " << sig.vocabSize << " symbols), temperature " << o.temperature << ", seed "
            << o.seed;
  if (cut > 0)
    std::cerr << "; " << cut << " reached --max-length " << o.maxLength << " before <end>";
  std::cerr << "\n";
  return 0;
}

} // namespace

Command addSampleCommand(CLI::App &app) {
  auto o = std::make_shared<SampleCommandOptions>();
  CLI::App *cmd = app.add_subcommand(
      "sample", "Generate sequences from a trained token model (a language model), one per "
                "line (docs/cli.md)");
  cmd->add_option("model", o->model, "The model, a .cj file")->required();
  cmd->add_option("--params", o->paramsFile,
                  "The weights: a checkpoint (train --checkpoint) or an .npz archive")
      ->required();
  cmd->add_option("--vocab", o->vocab,
                  "The vocabulary: one symbol per line, line k the symbol of id k, with "
                  "<begin> and <end> (and optionally <pad>)")
      ->required();
  cmd->add_option("--count", o->count, "Sequences to generate (default 10)");
  cmd->add_option("--temperature", o->temperature,
                  "Divide the logits by this before the softmax (default 1; 0: always the "
                  "most likely token)");
  cmd->add_option("--seed", o->seed, "Seed of the draws (default 0)");
  cmd->add_option("--max-length", o->maxLength,
                  "Tokens per sequence at most, the prefix included (default 32)");
  cmd->add_option("--prefix", o->prefix, "Text every sequence starts with");
  cmd->add_option("--tokens", o->tokens,
                  "The i32 [B, T] input of the tokens (default: the first such input)");
  cmd->add_option("--logits", o->logits,
                  "The value of the logits, float [B*T, V] or [B, T, V] (default: the first "
                  "such output)");
  cmd->add_option("--backend", o->backend, "jit (default) or interp")
      ->check(CLI::IsMember({"interp", "jit"}));
  cmd->footer("\nExamples:\n"
              "  chainjit sample examples/char_transformer.cj --params words.ckpt "
              "--vocab words/vocab.txt --count 5 --temperature 0.8 --seed 1\n"
              "See docs/cli.md and docs/models.md.");
  return {cmd, [o] { return runSample(*o); }};
}

} // namespace chainjit::cli
