// The LLVM half of the lowering: one function per graph, following a
// LoweringPlan kernel by kernel.
//
//   i32 @cj_entry(ptr %buffers, ptr %arena, ptr %failedNode)
//
// returns 0, or a JitStatusCode with the failing node's id stored at
// %failedNode. `buffers` holds the argument pointers in the order of
// Jit.h's ABI, `arena` LoweringPlan::arenaBytes bytes aligned to 64.
#pragma once

#include "LoweringPlan.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>

namespace chainjit::compiler::jit {

inline constexpr const char *kEntryName = "cj_entry";

std::unique_ptr<llvm::Module> buildModule(const ir::Graph &g, const LoweringPlan &plan,
                                          const JitOptions &options, llvm::LLVMContext &ctx);

} // namespace chainjit::compiler::jit
