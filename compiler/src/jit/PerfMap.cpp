#include "PerfMap.h"

#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unistd.h>

namespace chainjit::compiler::jit {

namespace {

class PerfMapWriter : public llvm::orc::ObjectLinkingLayer::Plugin {
public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility &,
                        llvm::jitlink::LinkGraph &,
                        llvm::jitlink::PassConfiguration &config) override {
    // After fixups every symbol has its final address.
    config.PostFixupPasses.push_back([this](llvm::jitlink::LinkGraph &g) { return append(g); });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility &) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib &, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib &, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}

private:
  static std::string path() { return "/tmp/perf-" + std::to_string(::getpid()) + ".map"; }

  // A named symbol in executable memory. (A loop outlined for threads is
  // an internal function, whose name JITLink's graph does not keep: its
  // samples show as addresses just past its graph's cj_entry.)
  static bool isCode(const llvm::jitlink::Symbol &s) {
    auto prot = static_cast<unsigned>(s.getBlock().getSection().getMemProt());
    return (prot & static_cast<unsigned>(llvm::orc::MemProt::Exec)) != 0;
  }

  llvm::Error append(llvm::jitlink::LinkGraph &g) {
    // One lock for the process: every engine appends to the same file.
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    if (FILE *f = std::fopen(path().c_str(), "a")) {
      for (llvm::jitlink::Symbol *s : g.defined_symbols())
        if (s->hasName() && s->getSize() > 0 && isCode(*s))
          std::fprintf(f, "%llx %llx %s\n",
                       static_cast<unsigned long long>(s->getAddress().getValue()),
                       static_cast<unsigned long long>(s->getSize()),
                       s->getName().str().c_str());
      std::fclose(f);
    }
    return llvm::Error::success();
  }
};

} // namespace

void addPerfMapWriter(llvm::orc::LLJIT &jit) {
  const char *env = std::getenv("CHAINJIT_PERF_MAP");
  if (!env || std::strcmp(env, "1") != 0)
    return;
  if (auto *layer = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&jit.getObjLinkingLayer()))
    layer->addPlugin(std::make_unique<PerfMapWriter>());
}

} // namespace chainjit::compiler::jit
