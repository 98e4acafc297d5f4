#include "CountedLoop.h"

#include <string>

namespace chainjit::compiler::jit {

std::vector<llvm::Value *> emitCountedLoop(
    llvm::IRBuilder<> &b, llvm::Function *fn, int64_t count, const std::vector<llvm::Value *> &init,
    const std::function<std::vector<llvm::Value *>(llvm::Value *, std::vector<llvm::Value *> &)>
        &body,
    const char *name, llvm::BranchInst *&latch) {
  llvm::LLVMContext &ctx = b.getContext();
  llvm::BasicBlock *pre = b.GetInsertBlock();
  auto *head = llvm::BasicBlock::Create(ctx, name, fn);
  auto *exit = llvm::BasicBlock::Create(ctx, std::string(name) + ".end", fn);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode *iv = b.CreatePHI(b.getInt64Ty(), 2, std::string(name) + ".i");
  iv->addIncoming(b.getInt64(0), pre);
  std::vector<llvm::Value *> carried;
  std::vector<llvm::PHINode *> phis;
  for (llvm::Value *v : init) {
    phis.push_back(b.CreatePHI(v->getType(), 2));
    phis.back()->addIncoming(v, pre);
    carried.push_back(phis.back());
  }
  std::vector<llvm::Value *> next = body(iv, carried);
  llvm::Value *ivNext = b.CreateAdd(iv, b.getInt64(1), "", true, true);
  llvm::BasicBlock *end = b.GetInsertBlock();
  iv->addIncoming(ivNext, end);
  for (size_t i = 0; i < phis.size(); ++i)
    phis[i]->addIncoming(next[i], end);
  latch = b.CreateCondBr(b.CreateICmpEQ(ivNext, b.getInt64(count)), exit, head);
  b.SetInsertPoint(exit);
  std::vector<llvm::Value *> out; // the values leaving the loop (LCSSA form)
  for (llvm::Value *v : next) {
    llvm::PHINode *p = b.CreatePHI(v->getType(), 1);
    p->addIncoming(v, end);
    out.push_back(p);
  }
  return out;
}

} // namespace chainjit::compiler::jit
