#include "aot/AotTarget.h"

#include "chainjit/ir/Error.h"
#include "jit/JitEngineImpl.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>


namespace chainjit::compiler::aot {

AotTarget resolveTarget(const std::string &cpu) {
  initializeNativeTarget();
  AotTarget t;
  t.triple = llvm::sys::getProcessTriple();
  std::string problem;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(t.triple, problem);
  if (!target)
    throw Error("aot: no LLVM target for " + t.triple + ": " + problem);
  std::string featureString;
  if (cpu.empty() || cpu == "host") {
    auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!host)
      throw Error("aot: detecting the host CPU: " + llvm::toString(host.takeError()));
    t.cpu = host->getCPU();
    featureString = host->getFeatures().getString();
  } else {
    std::unique_ptr<llvm::MCSubtargetInfo> generic(
        target->createMCSubtargetInfo(t.triple, "", ""));
    if (!generic->isCPUStringValid(cpu)) {
      std::string known;
      for (const llvm::SubtargetSubTypeKV &kv : generic->getAllProcessorDescriptions())
        known += (known.empty() ? "" : ", ") + std::string(kv.Key);
      throw Error("--target-cpu " + cpu + ": LLVM does not know this CPU for " + t.triple +
                  " (known: " + known + ")");
    }
    t.cpu = cpu;
  }
  std::unique_ptr<llvm::MCSubtargetInfo> sti(
      target->createMCSubtargetInfo(t.triple, t.cpu, featureString));
  for (const llvm::SubtargetFeatureKV &kv : sti->getAllProcessorFeatures())
    if (sti->getFeatureBits().test(kv.Value))
      t.features.emplace_back(kv.Key);
  llvm::TargetOptions options;
  t.machine.reset(target->createTargetMachine(t.triple, t.cpu, featureString, options,
                                              llvm::Reloc::PIC_, std::nullopt,
                                              llvm::CodeGenOptLevel::Aggressive));
  if (!t.machine)
    throw Error("aot: cannot create a target machine for " + t.triple + " CPU " + t.cpu);
  t.x86 = llvm::Triple(t.triple).isX86();
  return t;
}

} // namespace chainjit::compiler::aot
