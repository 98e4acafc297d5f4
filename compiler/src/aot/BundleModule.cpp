// The C entry points are thin: NAME_run stores its pointers (and those of
// the embedded weights) into the buffer array of the JIT's ABI and calls
// cj_bundle_call with the descriptor, which checks the CPU before any code
// compiled for it runs. So that holds for NAME_run itself too, the two
// wrappers are compiled for the baseline x86-64, whatever the target CPU.
#include "aot/BundleModule.h"

#include "aot/BundleRuntime.h"
#include "jit/ModuleBuilder.h"
#include "jit/ScanLowering.h"

#include "chainjit/ir/Error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>

namespace chainjit::compiler::aot {

namespace {

class InterfaceBuilder {
public:
  InterfaceBuilder(llvm::Module &m, const ir::Graph &g, const BundleSignature &sig,
                   const AotTarget &target)
      : m_(m), g_(g), sig_(sig), target_(target), ctx_(m.getContext()), b_(ctx_) {}

  void build(const ParamValues &params) {
    llvm::Function *entry = m_.getFunction(jit::kEntryName);
    if (!entry)
      throw Error("internal: aot: the module has no entry function");
    entry->setName(sig_.name + "_entry");
    entry->setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::GlobalVariable *desc = descriptor(entry);
    buildRun(desc, params);
    buildCheck(desc);
  }

private:
  llvm::Type *ptr() { return b_.getPtrTy(); }

  llvm::Constant *string(const std::string &s) {
    llvm::Constant *data = llvm::ConstantDataArray::getString(ctx_, s);
    auto *gv = new llvm::GlobalVariable(m_, data->getType(), true,
                                        llvm::GlobalValue::PrivateLinkage, data, ".str");
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return gv;
  }

  llvm::Constant *stringArray(const std::vector<std::string> &items, const std::string &name) {
    std::vector<llvm::Constant *> ptrs;
    for (const std::string &s : items)
      ptrs.push_back(string(s));
    auto *type = llvm::ArrayType::get(ptr(), ptrs.size());
    return new llvm::GlobalVariable(m_, type, true, llvm::GlobalValue::PrivateLinkage,
                                    llvm::ConstantArray::get(type, ptrs), name);
  }

  // struct cj_bundle_desc, field by field (BundleRuntime.h).
  llvm::GlobalVariable *descriptor(llvm::Function *entry) {
    std::vector<std::string> labels, ops, buffers;
    // The entry's failed-node ids count the scan bodies' nodes after g's.
    for (const jit::FlatNode &n : jit::flatNodes(g_)) {
      labels.push_back(n.graph->node(n.id).label(n.id));
      ops.emplace_back(ir::opName(n.graph->node(n.id).kind));
    }
    for (const BundleArgument &a : sig_.arguments) {
      const char *role = a.spec.role == ArgumentRole::Input   ? "input "
                         : a.spec.role == ArgumentRole::Param ? "param "
                         : a.spec.role == ArgumentRole::Output ? "output "
                                                               : "update ";
      buffers.push_back(role + a.spec.name);
    }
    std::string features;
    for (const std::string &f : target_.features)
      features += (features.empty() ? "+" : ",+") + f;
    auto *cpuState = new llvm::GlobalVariable(m_, b_.getInt32Ty(), false,
                                              llvm::GlobalValue::InternalLinkage,
                                              b_.getInt32(0), sig_.name + "_cpu_state");
    llvm::Type *i32 = b_.getInt32Ty(), *i64 = b_.getInt64Ty();
    auto *type = llvm::StructType::get(
        ctx_, {i32, i32, i64, ptr(), ptr(), ptr(), ptr(), i64, ptr(), ptr(), ptr(), ptr()});
    llvm::Constant *fields[] = {
        b_.getInt32(CJ_BUNDLE_ABI_VERSION),
        b_.getInt32(static_cast<uint32_t>(sig_.arguments.size())),
        b_.getInt64(static_cast<uint64_t>(sig_.workspaceBytes)),
        entry,
        string(sig_.name),
        string(target_.cpu),
        string(features),
        b_.getInt64(labels.size()),
        stringArray(labels, sig_.name + "_node_labels"),
        stringArray(ops, sig_.name + "_node_ops"),
        stringArray(buffers, sig_.name + "_buffer_names"),
        cpuState,
    };
    return new llvm::GlobalVariable(m_, type, true, llvm::GlobalValue::InternalLinkage,
                                    llvm::ConstantStruct::get(type, fields),
                                    sig_.name + "_desc");
  }

  llvm::Constant *weights(const BundleArgument &a, const ir::Tensor &t) {
    llvm::Type *elem = t.dtype() == ir::DType::f32   ? b_.getFloatTy()
                       : t.dtype() == ir::DType::f64 ? b_.getDoubleTy()
                       : t.dtype() == ir::DType::i32 ? static_cast<llvm::Type *>(b_.getInt32Ty())
                                                     : b_.getInt8Ty();
    size_t bytes = static_cast<size_t>(t.numel()) * ir::dtypeSize(t.dtype());
    llvm::Constant *data = llvm::ConstantDataArray::getRaw(
        llvm::StringRef(static_cast<const char *>(t.data()), bytes),
        static_cast<uint64_t>(t.numel()), elem);
    auto *gv = new llvm::GlobalVariable(m_, data->getType(), true,
                                        llvm::GlobalValue::InternalLinkage, data,
                                        sig_.name + "_param_" + a.cname);
    gv->setAlignment(llvm::Align(64));
    return gv;
  }

  // Code that runs before the CPU check: the baseline instruction set.
  void baseline(llvm::Function *f) {
    f->addFnAttr(llvm::Attribute::NoUnwind);
    if (target_.x86) {
      f->addFnAttr("target-cpu", "x86-64");
      f->addFnAttr("target-features", "");
    }
  }

  void buildRun(llvm::GlobalVariable *desc, const ParamValues &params) {
    std::vector<llvm::Type *> types;
    for (const BundleArgument &a : sig_.arguments)
      if (!a.embedded)
        types.push_back(ptr());
    types.push_back(ptr());           // workspace
    types.push_back(ptr());           // err
    types.push_back(b_.getInt64Ty()); // err_size
    auto *fn = llvm::Function::Create(llvm::FunctionType::get(b_.getInt32Ty(), types, false),
                                      llvm::GlobalValue::ExternalLinkage, sig_.name + "_run", m_);
    baseline(fn);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
    auto *arrayType = llvm::ArrayType::get(ptr(), sig_.arguments.size());
    llvm::Value *buffers = b_.CreateAlloca(arrayType, nullptr, "buffers");
    unsigned next = 0;
    for (size_t i = 0; i < sig_.arguments.size(); ++i) {
      const BundleArgument &a = sig_.arguments[i];
      llvm::Value *p = a.embedded ? weights(a, params.find(a.spec.name)->second)
                                  : static_cast<llvm::Value *>(fn->getArg(next++));
      b_.CreateStore(p, b_.CreateConstGEP2_64(arrayType, buffers, 0, i));
    }
    llvm::FunctionCallee call = m_.getOrInsertFunction(
        "cj_bundle_call", b_.getInt32Ty(), ptr(), ptr(), ptr(), ptr(), b_.getInt64Ty());
    llvm::Value *first = b_.CreateConstGEP2_64(arrayType, buffers, 0, 0);
    b_.CreateRet(b_.CreateCall(call, {desc, first, fn->getArg(next), fn->getArg(next + 1),
                                      fn->getArg(next + 2)}));
  }

  void buildCheck(llvm::GlobalVariable *desc) {
    auto *fn = llvm::Function::Create(
        llvm::FunctionType::get(b_.getInt32Ty(), {ptr(), b_.getInt64Ty()}, false),
        llvm::GlobalValue::ExternalLinkage, sig_.name + "_check", m_);
    baseline(fn);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
    llvm::FunctionCallee call = m_.getOrInsertFunction("cj_bundle_check_cpu", b_.getInt32Ty(),
                                                       ptr(), ptr(), b_.getInt64Ty());
    b_.CreateRet(b_.CreateCall(call, {desc, fn->getArg(0), fn->getArg(1)}));
  }

  llvm::Module &m_;
  const ir::Graph &g_;
  const BundleSignature &sig_;
  const AotTarget &target_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
};

} // namespace

void addBundleInterface(llvm::Module &m, const ir::Graph &g, const BundleSignature &sig,
                        const ParamValues &params, const AotTarget &target) {
  InterfaceBuilder(m, g, sig, target).build(params);
}

} // namespace chainjit::compiler::aot
