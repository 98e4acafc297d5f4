// One interface over both backends: a graph prepared once (for the JIT:
// lowered and compiled) and run many times with interpret()'s semantics.
// Training and the CLI go through it, so they work the same on either
// backend.
#pragma once

#include "chainjit/compiler/Jit.h"
#include "chainjit/runtime/Interpreter.h"

#include <memory>
#include <string_view>

namespace chainjit::runtime {

enum class Backend { Interp, Jit };

// "interp" or "jit"; throws chainjit::Error otherwise.
Backend parseBackend(std::string_view name);

class Executable {
public:
  virtual ~Executable() = default;
  // Like interpret(g, bindings): outputs in g.outputs() order and the new
  // value of every updated param. Bindings are checked the same way.
  // Thread-safe: several threads may run one Executable at once, each with
  // its own bindings (on the JIT each call gets its own arena, see
  // compiler::CompiledGraph::call).
  virtual EvalResult run(const Bindings &bindings) const = 0;
  const ir::Graph &graph() const { return graph_; }
  // The JIT's compile times; null for the interpreter.
  virtual const compiler::CompileTimes *compileTimes() const { return nullptr; }
  // The JIT's compiled graph, for callers that bind their own buffers and
  // call it without run()'s copies (the trainer's steps); null for the
  // interpreter.
  virtual const compiler::CompiledGraph *compiled() const { return nullptr; }

protected:
  explicit Executable(ir::Graph g) : graph_(std::move(g)) {}
  ir::Graph graph_;
};

// Prepares `g` (verified, modes expanded) for repeated runs on `backend`.
// `options` only matter for the JIT.
std::unique_ptr<Executable> makeExecutable(ir::Graph g, Backend backend,
                                           const compiler::JitOptions &options = {});

} // namespace chainjit::runtime
