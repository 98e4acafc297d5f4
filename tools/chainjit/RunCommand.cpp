// chainjit run FILE --input NAME=PATH... [--param NAME=PATH...] [--params FILE]
//                   [--batch N] [--outputs NAME,...]
//                   [--mode train|eval] [--backend interp|jit]
//                   [--output PATH [--output-format npy|csv]] [--full]
//                   [--passes P,... --print-after P --print-after-all]
//                   [--emit plan|llvm|llvm-opt|asm|obj] [--time-passes]
//                   [--check-numerics] [--profile N] [--no-cache] [--cache-dir DIR]
// Expands the train or eval mode, runs the chosen graph passes, binds inputs
// (and params) from CSV or .npy files, evaluates the graph on the chosen
// backend and prints or writes its outputs. --outputs prunes the graph to
// the chosen outputs (and the inputs they need); the batch size follows
// --batch or the inputs' leading axis (withBatchSize, ModelGraphs.h).
// --profile runs the compiled graph N times and prints the time of each
// kernel of its plan (JitOptions::profile) to stderr.
#include "Commands.h"
#include "GraphOutput.h"
#include "PhaseTimer.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/Verifier.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace chainjit::cli {

namespace {

struct RunOptions {
  std::string file;
  std::vector<std::string> inputs;
  std::vector<std::string> params;
  std::string paramsFile;
  std::optional<int64_t> batch; // none: from the inputs
  std::vector<std::string> outputs; // --outputs, in order
  std::string mode = "eval";
  std::string backend = "interp";
  std::string output;
  std::string outputFormat = "npy";
  bool full = false;
  int precision = 6;
  GraphOutputOptions passes;
  std::string emit;
  bool timePasses = false;
  bool checkNumerics = false;
  int64_t profile = 0; // --profile N: runs timed per kernel, 0 for none
  bool noCache = false;
  std::string cacheDir;
  std::string allocLimit;
};

compiler::EmitKind emitKind(const std::string &name) {
  if (name == "plan")
    return compiler::EmitKind::Plan;
  if (name == "llvm")
    return compiler::EmitKind::Llvm;
  if (name == "llvm-opt")
    return compiler::EmitKind::LlvmOpt;
  if (name == "asm")
    return compiler::EmitKind::Asm;
  return compiler::EmitKind::Obj;
}

struct Binding {
  std::string name;
  std::string path;
};

bool isIdentifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.')
      return false;
  return true;
}

// "NAME=PATH" (a leading '%' on NAME is allowed) -> {NAME, PATH}.
std::vector<Binding> parsePairs(const std::vector<std::string> &pairs,
                                const std::string &flag) {
  std::vector<Binding> result;
  std::set<std::string, std::less<>> seen;
  for (const std::string &pair : pairs) {
    size_t eq = pair.find('=');
    std::string name = pair.substr(0, eq);
    if (!name.empty() && name[0] == '%')
      name.erase(0, 1);
    if (eq == std::string::npos || !isIdentifier(name) || eq + 1 == pair.size())
      throw UsageError(flag + " '" + pair + "': expected NAME=PATH, e.g. " + flag +
                       " x=data/x.csv");
    if (!seen.insert(name).second)
      throw UsageError(flag + " " + name + " is given twice");
    result.push_back({name, pair.substr(eq + 1)});
  }
  return result;
}

std::string nameList(const ir::Graph &g, const std::vector<ir::NodeId> &ids) {
  if (ids.empty())
    return "none";
  std::string s;
  for (ir::NodeId id : ids)
    s += (s.empty() ? "%" : ", %") + g.node(id).name;
  return s;
}

// Finds the input or param that a --input / --param names.
ir::NodeId bindingTarget(const ir::Graph &g, const std::string &name, ir::OpKind kind) {
  bool wantInput = kind == ir::OpKind::Input;
  std::string what = wantInput ? "input" : "param";
  std::optional<ir::NodeId> id = g.find(name);
  if (id && g.node(*id).kind == kind)
    return *id;
  if (id && g.node(*id).kind == (wantInput ? ir::OpKind::Param : ir::OpKind::Input))
    throw Error("%" + name + " is " + (wantInput ? "a param" : "an input") + ", not " +
                (wantInput ? "an input" : "a param") + "; bind it with " +
                (wantInput ? "--param " : "--input ") + name + "=PATH");
  std::vector<std::string> names; // for "did you mean"
  for (ir::NodeId n : wantInput ? g.inputs() : g.params())
    names.push_back(g.node(n).name);
  throw Error("graph '" + g.name() + "' has no " + what + " %" + name + " (" + what +
              "s: " + nameList(g, wantInput ? g.inputs() : g.params()) + ")" +
              ir::didYouMean(name, names, "%"));
}

// The params of a --params file (checkpoint or .npz) for graph `g`: every
// name in the file must be a param of the model file (`full`), and every
// param of `g` not bound by --param must be in the file with its shape
// (runtime::bindParams).
void loadParamsFile(const ir::Graph &g, const ir::Graph &full, const std::string &path,
                    const std::vector<Binding> &explicitParams, runtime::Bindings &bindings) {
  runtime::Weights w = runtime::loadWeights(path);
  std::vector<Diagnostic> unknown;
  for (const auto &[name, value] : w.params) {
    std::optional<ir::NodeId> id = full.find(name);
    if (!id || full.node(*id).kind != ir::OpKind::Param)
      unknown.push_back({SourceLoc{path}, "'" + name + "' is no param of graph '" +
                                              full.name() + "' (params: " +
                                              nameList(full, full.params()) + ")"});
  }
  if (!unknown.empty())
    throw Error(unknown);
  std::vector<std::string> skip;
  for (const Binding &b : explicitParams)
    skip.push_back(b.name);
  bindings.merge(runtime::bindParams(g, w.params, path, skip));
}

// Input files read so far, by path: the batch size is read off the same
// content that is then bound, so each file is read once.
class InputFiles {
public:
  const runtime::TensorFile &get(const std::string &path) {
    auto it = files_.find(path);
    if (it == files_.end())
      it = files_.emplace(path, runtime::readTensorFile(path)).first;
    return it->second;
  }

private:
  std::map<std::string, runtime::TensorFile> files_;
};

// Inputs and params are named against the model file (`full`); only those
// that `g` (perhaps pruned by --outputs) still has are read.
runtime::Bindings loadBindings(const ir::Graph &g, const ir::Graph &full, const RunOptions &o,
                               InputFiles &files) {
  std::vector<Binding> inputs = parsePairs(o.inputs, "--input");
  std::vector<Binding> params = parsePairs(o.params, "--param");
  runtime::Bindings bindings;
  auto load = [&](const std::vector<Binding> &list, ir::OpKind kind, const char *what) {
    for (const Binding &b : list) {
      std::optional<ir::NodeId> id = g.find(b.name);
      if (!id || g.node(*id).kind != kind)
        continue; // not needed by the chosen outputs
      std::string label = std::string(what) + " %" + b.name;
      bindings[b.name] = kind == ir::OpKind::Input
                             ? runtime::toTensor(files.get(b.path), g.type(*id), label)
                             : runtime::loadTensor(b.path, g.type(*id), label);
    }
  };
  // Every name is checked before any file is read.
  for (const Binding &b : inputs)
    bindingTarget(full, b.name, ir::OpKind::Input);
  for (const Binding &b : params)
    bindingTarget(full, b.name, ir::OpKind::Param);
  std::vector<Diagnostic> missing;
  for (ir::NodeId id : g.inputs()) {
    const ir::Node &n = g.node(id);
    auto given = [&](const Binding &b) { return b.name == n.name; };
    if (std::none_of(inputs.begin(), inputs.end(), given))
      missing.push_back({{}, "input %" + n.name + " : " + n.type.str() +
                                 " is not given; add --input " + n.name + "=PATH" +
                                 (o.outputs.empty() ? "" : " (the chosen outputs need it)")});
  }
  if (!missing.empty())
    throw Error(missing);
  if (!o.paramsFile.empty())
    loadParamsFile(g, full, o.paramsFile, params, bindings);
  load(inputs, ir::OpKind::Input, "input");
  load(params, ir::OpKind::Param, "param");
  return bindings;
}

// The batch size the input files hold: the leading axis of each input
// whose declared first dimension is the graph's batch `from` (a CSV table
// counts as rows of the declared row size). They must agree; `from` when
// no input tells.
int64_t batchFromInputs(const ir::Graph &g, const RunOptions &o, int64_t from,
                        InputFiles &files) {
  std::optional<int64_t> found;
  std::string foundFrom;
  for (const Binding &b : parsePairs(o.inputs, "--input")) {
    std::optional<ir::NodeId> id = g.find(b.name);
    if (!id || g.node(*id).kind != ir::OpKind::Input)
      continue;
    const ir::TensorType &t = g.type(*id);
    if (t.rank() < 1 || t.shape[0] != from)
      continue;
    // Only a file that differs in the leading axis alone has another batch;
    // any other shape is toTensor's error when the file is bound.
    int64_t rows = files.get(b.path).rowsFor(t).value_or(-1);
    if (rows < 1)
      continue;
    if (found && *found != rows)
      throw Error("the inputs disagree on the batch size: " + foundFrom + " holds " +
                  std::to_string(*found) + " rows, " + b.path + " " + std::to_string(rows) +
                  " (or give --batch N)");
    found = rows;
    foundFrom = b.path;
  }
  return found.value_or(from);
}

std::string valueLabel(const ir::Graph &g, ir::NodeId id, size_t index) {
  const std::string &name = g.node(id).name;
  return name.empty() ? "output " + std::to_string(index) : "%" + name;
}

void printValue(const std::string &label, const ir::Tensor &t,
                const runtime::TensorPrintOptions &opts) {
  std::string text = runtime::formatTensor(t, opts);
  std::cout << label << " : " << t.type().str() << " =";
  if (text.find('\n') == std::string::npos) {
    std::cout << " " << text << "\n";
    return;
  }
  // Several lines: each on its own line, indented.
  std::cout << "\n  ";
  for (char c : text) {
    std::cout << c;
    if (c == '\n')
      std::cout << "  ";
  }
  std::cout << "\n";
}

// --output: one file when PATH ends in .npy or .csv (the graph must have one
// output), else a directory with one file per output named after it.
void writeOutputs(const ir::Graph &g, const runtime::EvalResult &r, const RunOptions &o) {
  namespace fs = std::filesystem;
  const auto &outs = g.outputs();
  fs::path path(o.output);
  std::string ext = path.extension().string();
  for (char &c : ext)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".npy" || ext == ".csv") {
    if (outs.size() != 1)
      throw Error("--output " + o.output + " names one file but graph '" + g.name() +
                  "' has " + std::to_string(outs.size()) +
                  " outputs; give a directory instead");
    runtime::saveTensor(o.output, r.outputs[0]);
    std::cout << valueLabel(g, outs[0], 0) << " : " << r.outputs[0].type().str() << " -> "
              << o.output << "\n";
    return;
  }
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec || !fs::is_directory(path))
    throw Error("--output " + o.output + ": cannot create directory" +
                (ec ? ": " + ec.message() : std::string()));
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::string &name = g.node(outs[i]).name;
    std::string file = (name.empty() ? "output" + std::to_string(i) : name) + "." + o.outputFormat;
    std::string full = (path / file).string();
    runtime::saveTensor(full, r.outputs[i]);
    std::cout << valueLabel(g, outs[i], i) << " : " << r.outputs[i].type().str() << " -> "
              << full << "\n";
  }
}

int runRun(const RunOptions &o) {
  // Usage errors first, before any file is read.
  parsePairs(o.inputs, "--input");
  parsePairs(o.params, "--param");
  checkGraphOutputOptions(o.passes);
  applyAllocLimit(o.allocLimit);
  bool jit = o.backend == "jit";
  const std::pair<bool, const char *> jitOnly[] = {{!o.emit.empty(), "--emit"},
                                                   {o.checkNumerics, "--check-numerics"},
                                                   {o.profile > 0, "--profile"},
                                                   {o.noCache, "--no-cache"},
                                                   {!o.cacheDir.empty(), "--cache-dir"}};
  for (const auto &[given, flag] : jitOnly)
    if (given && !jit)
      throw UsageError(std::string(flag) + " needs --backend jit");
  if (o.emit == "obj" && ::isatty(STDOUT_FILENO))
    throw UsageError("--emit obj writes a binary object file to stdout; redirect it, "
                     "e.g. > model.o");

  if (o.batch && *o.batch < 1)
    throw UsageError("--batch " + std::to_string(*o.batch) + ": the batch size must be at least 1");
  const std::vector<std::string> &chosen = o.outputs;

  PhaseTimer timer(o.timePasses);
  InputFiles files;
  ir::Graph full = timer.time("parse", [&] { return ir::parseGraphFile(o.file); });
  ir::Graph parsed = chosen.empty() ? full : runtime::train::withOutputs(full, chosen);
  ir::Graph g = timer.time("expand modes", [&] {
    return compiler::expandModes(
        parsed, o.mode == "train" ? compiler::Mode::Train : compiler::Mode::Eval);
  });
  if (!chosen.empty()) // what eval mode no longer uses (a dropout's step counter)
    g = runtime::train::withoutUnusedValues(g);
  if (!o.passes.passes.empty())
    g = timer.time("graph passes", [&] { return applyPasses(g, o.passes); });
  if (int64_t from = runtime::train::graphBatchSize(g); from > 0) {
    int64_t to = o.batch ? *o.batch : o.emit.empty() ? batchFromInputs(g, o, from, files) : from;
    if (to != from)
      g = runtime::train::withBatchSize(g, from, to);
  } else if (o.batch && from == 0) {
    throw Error("--batch " + std::to_string(*o.batch) + ": graph '" + g.name() +
                "' has no input with a batch dimension");
  }
  timer.time("verify", [&] { ir::verifyOrThrow(g); });

  compiler::JitOptions jitOptions;
  jitOptions.useCache = !o.noCache;
  jitOptions.cacheDir = o.cacheDir;
  jitOptions.checkNumerics = o.checkNumerics;
  jitOptions.profile = o.profile > 0;
  if (!o.emit.empty()) {
    std::cout << compiler::emitGraph(g, emitKind(o.emit), jitOptions) << std::flush;
    return 0;
  }
  runtime::Bindings bindings = loadBindings(g, full, o, files);
  std::unique_ptr<runtime::Executable> exe =
      runtime::makeExecutable(g, jit ? runtime::Backend::Jit : runtime::Backend::Interp,
                              jitOptions);
  if (const compiler::CompileTimes *t = exe->compileTimes()) {
    timer.add("jit startup", t->startup);
    timer.add("lower", t->lower);
    timer.add(t->cacheHit ? "optimize (cached)" : "LLVM optimize", t->optimize);
    timer.add("codegen", t->codegen);
  }
  runtime::EvalResult result = timer.time("run", [&] { return exe->run(bindings); });
  timer.print();
  if (o.profile > 0) {
    // The same bindings each time: an update is returned, not fed back.
    for (int64_t run = 1; run < o.profile; ++run)
      exe->run(bindings);
    std::cerr << compiler::formatProfile(exe->compiled()->profile()) << std::flush;
  }

  // Outputs are named as in the file: mode expansion may have replaced the
  // node an output names (eval-mode dropout becomes its input).
  if (!o.output.empty()) {
    writeOutputs(parsed, result, o);
  } else {
    runtime::TensorPrintOptions opts;
    opts.full = o.full;
    opts.precision = o.precision;
    for (size_t i = 0; i < parsed.outputs().size(); ++i)
      printValue(valueLabel(parsed, parsed.outputs()[i], i), result.outputs[i], opts);
    for (const auto &[name, value] : result.updatedParams)
      printValue("update %" + name, value, opts);
  }
  return 0;
}

} // namespace

Command addRunCommand(CLI::App &app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App *cmd = app.add_subcommand(
      "run", "Evaluate a graph on inputs from CSV or .npy files and print or save its outputs");
  cmd->add_option("file", o->file, "The graph, a .cj file")->required();
  cmd->add_option("-i,--input", o->inputs,
                  "NAME=PATH: the value of input %NAME, from a .csv or .npy file (repeat for "
                  "each input)");
  cmd->add_option("-p,--param", o->params,
                  "NAME=PATH: the value of param %NAME (params not given use their "
                  "initializer)");
  cmd->add_option("--params", o->paramsFile,
                  "All params at once from a checkpoint (train --checkpoint) or an .npz "
                  "archive; every param the outputs need must be there (--param overrides "
                  "one)");
  cmd->add_option("--batch", o->batch,
                  "Run at this batch size: every input whose first dimension is the "
                  "graph's batch gets N (default: the leading axis of the input files)");
  cmd->add_option("--outputs", o->outputs,
                  "NAME,...: compute only these values, in this order; only the inputs and "
                  "params they depend on are needed (a prediction needs no labels)")
      ->delimiter(',');
  cmd->add_option("--mode", o->mode,
                  "train or eval (default): how dropout and batch_norm behave")
      ->check(CLI::IsMember({"train", "eval"}));
  cmd->add_option("--backend", o->backend,
                  "interp (the reference interpreter, default) or jit (compiled native "
                  "code through LLVM)")
      ->check(CLI::IsMember({"interp", "jit"}));
  addPassOptions(cmd, o->passes);
  cmd->add_option("--emit", o->emit,
                  "With --backend jit: print what the graph compiles to instead of running "
                  "it: plan (kernels, fusion, memory), llvm, llvm-opt (after O3), asm, obj")
      ->check(CLI::IsMember({"plan", "llvm", "llvm-opt", "asm", "obj"}));
  cmd->add_flag("--time-passes", o->timePasses,
                "Print the time of each phase (parse, expand, passes, verify, jit startup, "
                "lower, LLVM optimize, codegen, run) to stderr");
  cmd->add_flag("--check-numerics", o->checkNumerics,
                "With --backend jit: stop at the first op whose result holds NaN or Inf and "
                "name it");
  cmd->add_option("--profile", o->profile,
                  "With --backend jit: run the graph N times and print each kernel's share "
                  "of the time, its total and its time per call to stderr (the kernels "
                  "are the lines of --emit plan)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd->add_flag("--no-cache", o->noCache,
                "With --backend jit: compile from scratch, neither reading nor writing "
                "compiled graphs in the cache (the machine's matmul calibration and "
                "micro-kernels stay in the default cache directory)");
  cmd->add_option("--cache-dir", o->cacheDir,
                  "With --backend jit: the compilation cache directory (default "
                  "$CHAINJIT_CACHE_DIR, $XDG_CACHE_HOME/chainjit or ~/.cache/chainjit)");
  cmd->add_option("-o,--output", o->output,
                  "Write the outputs instead of printing them: to PATH.npy or PATH.csv "
                  "when the graph has one output, else into directory PATH, one file per "
                  "output named after it");
  cmd->add_option("--output-format", o->outputFormat,
                  "File type of the outputs written into an --output directory: npy "
                  "(default) or csv")
      ->check(CLI::IsMember({"npy", "csv"}));
  cmd->add_flag("--full", o->full, "Print every element (big tensors are abbreviated)");
  addAllocLimitOption(cmd, o->allocLimit);
  cmd->add_option("--precision", o->precision,
                  "Significant digits of printed floats (default 6)")
      ->check(CLI::Range(1, 17));
  cmd->footer("Tensor files: .csv (numbers separated by commas, an optional header line; "
              "the table is\nreshaped to the declared type) or .npy (NumPy, C order, "
              "<f4 <f8 <i4 |b1 |u1). See docs/cli.md.\n"
              "\nExamples:\n"
              "  chainjit run examples/mlp.cj --input x=examples/data/mlp_x.csv "
              "--input labels=examples/data/mlp_labels.csv\n"
              "  chainjit run examples/cnn.cj -i images=examples/data/cnn_images.npy "
              "-i labels=examples/data/cnn_labels.npy -o out/\n"
              "  chainjit run examples/digits_mlp.cj --params digits.npz "
              "--outputs predicted -i x=images.npy\n"
              "  chainjit run examples/mlp.cj --backend jit --emit plan\n"
              "  chainjit run examples/mlp.cj --backend jit --profile 100 "
              "-i x=examples/data/mlp_x.csv -i labels=examples/data/mlp_labels.csv\n\n" +
              passListHelp());
  return {cmd, [o] { return runRun(*o); }};
}

} // namespace chainjit::cli
