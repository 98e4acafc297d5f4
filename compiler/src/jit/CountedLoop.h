// A counted loop with values carried from one iteration to the next, for
// the code generators (ModuleBuilder.cpp's reductions, the matmul
// micro-kernels).
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace chainjit::compiler::jit {

// for (iv = 0; iv < count; ++iv) carried = body(iv, carried), count >= 1,
// emitted at b's insert point into `fn`; b continues after the loop.
// Returns the carried values after the last iteration (phis of the exit
// block); the loop's back
// branch is returned in `latch`, for the caller's loop hints.
std::vector<llvm::Value *> emitCountedLoop(
    llvm::IRBuilder<> &b, llvm::Function *fn, int64_t count, const std::vector<llvm::Value *> &init,
    const std::function<std::vector<llvm::Value *>(llvm::Value *, std::vector<llvm::Value *> &)>
        &body,
    const char *name, llvm::BranchInst *&latch);

} // namespace chainjit::compiler::jit
