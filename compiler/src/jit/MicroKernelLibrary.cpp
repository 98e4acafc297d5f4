#include "MicroKernelLibrary.h"

#include "JitEngineImpl.h"
#include "KernelChoice.h"
#include "ObjectCache.h"
#include "chainjit/ir/Error.h"
#include "jit/kernels/gen/GenericMicroKernel.h"

#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>

namespace chainjit::compiler::jit {

namespace {

// The kernels' module for this host, unoptimized; its text keys the cache.
std::unique_ptr<llvm::Module> kernelModule(llvm::LLVMContext &ctx) {
  auto m = std::make_unique<llvm::Module>("chainjit.microkernels", ctx);
  defineGenericMicroKernels(*m, hostVectors(), llvm::GlobalValue::ExternalLinkage);
  sharedJitEngine().impl().prepare(*m);
  return m;
}

void report(const JitOptions &o, const std::string &message) {
  if (o.onWarning)
    o.onWarning(message);
  else
    std::cerr << "chainjit: warning: " << message << "\n";
}

} // namespace

std::string buildMicroKernelObject() {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = kernelModule(ctx);
  auto &impl = sharedJitEngine().impl();
  std::unique_ptr<llvm::TargetMachine> tm = impl.newTargetMachine();
  // O1: the IR already is explicit vector code, so O3's vectorizers and
  // unrolling find nothing to do; measured on the kernels, O1 gives the
  // same object size and speed and compiles about 20 % faster.
  optimizeModule(*m, *tm, PipelineLevel::O1, /*vectorize=*/false);
  return emitMachineCode(*m, *tm, false);
}

std::string microKernelEntryKey(const std::string &target) {
  static const std::string text = [] {
    llvm::LLVMContext ctx;
    std::unique_ptr<llvm::Module> m = kernelModule(ctx);
    // How the object is made is part of what it is.
    std::string printed = "chainjit micro-kernels, O1 pipeline, host codegen\n";
    llvm::raw_string_ostream os(printed);
    m->print(os, nullptr);
    os.flush();
    return printed;
  }();
  return "micro-kernels-" + ObjectCache::key(text, target);
}

std::string microKernelEntryKey() {
  return microKernelEntryKey(sharedJitEngine().targetDescription());
}

std::string checkMicroKernelObject(const std::string &object) {
  auto parsed = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(object, "micro-kernels"));
  if (!parsed)
    return "it is not an object file (" + llvm::toString(parsed.takeError()) + ")";
  std::set<std::string> defined;
  for (const llvm::object::SymbolRef &s : (*parsed)->symbols()) {
    auto name = s.getName();
    auto flags = s.getFlags();
    if (!name || !flags) {
      llvm::consumeError(name.takeError());
      llvm::consumeError(flags.takeError());
      continue;
    }
    if (!(*flags & llvm::object::SymbolRef::SF_Undefined) &&
        (*flags & llvm::object::SymbolRef::SF_Global))
      defined.insert(name->str());
  }
  for (const std::string &name : genericMicroKernelNames())
    if (!defined.count(name))
      return "it does not define " + name;
  return {};
}

std::string loadOrBuildMicroKernels(const std::string &dir, const std::string &key,
                                    const std::function<void(const std::string &)> &warn,
                                    const std::function<std::string()> &build, bool *built) {
  ObjectCache cache(dir);
  ObjectCache::Lookup found = cache.load(key);
  if (built)
    *built = false;
  if (found.discarded) {
    // ObjectCache words it for graphs: keep its reason, say what follows here.
    std::string why = found.problem;
    const std::string open = "is damaged (", close = "); it was deleted";
    if (size_t a = why.find(open), b = why.rfind(close);
        a != std::string::npos && b != std::string::npos && b > a)
      why = why.substr(a + open.size(), b - a - open.size());
    warn("the micro-kernel cache entry " + cache.entryPath(key) + " was damaged (" + why +
         "); it was deleted and the matmul micro-kernels are compiled again");
  }
  else if (!found.problem.empty())
    warn(found.problem);
  if (found.object) {
    std::string why = checkMicroKernelObject(*found.object);
    if (why.empty())
      return *found.object;
    cache.discard(key);
    warn("the micro-kernel cache entry " + cache.entryPath(key) + " is unusable (" + why +
         "); it was deleted and the matmul micro-kernels are compiled again");
  }
  std::string object = build();
  if (built)
    *built = true;
  cache.store(key, object);
  return object;
}

namespace {

struct Library {
  std::mutex mutex;
  std::optional<std::string> object; // the bytes loaded (or to load)
  std::set<std::string> syncedDirs;  // cache directories known to hold them
  std::optional<MicroKernelAddresses> addresses;
};

Library &library() {
  static Library *l = new Library(); // never destroyed, like the engine
  return *l;
}

MicroKernelAddresses loadIntoJit(const std::string &object) {
  auto &impl = sharedJitEngine().impl();
  const std::vector<std::string> names = genericMicroKernelNames();
  auto [first, dylib] = impl.load(object, names[0]);
  std::vector<void *> at = {first};
  for (size_t i = 1; i < names.size(); ++i) {
    auto addr = impl.jit->lookup(*dylib, names[i]);
    if (!addr) {
      std::string why = llvm::toString(addr.takeError());
      impl.unload(dylib);
      throw Error("linking the matmul micro-kernels: " + why);
    }
    at.push_back(addr->toPtr<void *>());
  }
  // Graph objects find them in the main JITDylib, as the library kernels.
  auto &session = impl.jit->getExecutionSession();
  llvm::orc::SymbolMap symbols;
  for (size_t i = 0; i < names.size(); ++i)
    symbols[session.intern(names[i])] = {llvm::orc::ExecutorAddr::fromPtr(at[i]),
                                         llvm::JITSymbolFlags::Exported};
  if (auto err = impl.jit->getMainJITDylib().define(llvm::orc::absoluteSymbols(symbols)))
    throw Error("defining the matmul micro-kernels: " + llvm::toString(std::move(err)));
  return {at[0], at[1], at[2], at[3]};
}

} // namespace

MicroKernelAddresses loadedMicroKernels(const JitOptions &o) {
  Library &l = library();
  std::lock_guard<std::mutex> lock(l.mutex);
  auto warn = [&](const std::string &message) { report(o, message); };
  // The default cache directory, whatever o.cacheDir and o.useCache say
  // (MicroKernelLibrary.h says why).
  const std::string key = microKernelEntryKey();
  const std::string dir = ObjectCache("").directory();
  bool fromCache = false;
  if (!l.syncedDirs.count(dir)) {
    if (!l.object) {
      bool built = false;
      l.object = loadOrBuildMicroKernels(dir, key, warn, buildMicroKernelObject, &built);
      fromCache = !built;
    } else if (!ObjectCache(dir).load(key).object) {
      ObjectCache(dir).store(key, *l.object);
    }
    l.syncedDirs.insert(dir);
  }
  if (!l.addresses) {
    try {
      l.addresses = loadIntoJit(*l.object);
    } catch (const Error &e) {
      if (!fromCache)
        throw;
      // Verified and well-formed, yet not linkable: as damaged.
      ObjectCache(dir).discard(key);
      warn("the micro-kernel cache entry " + ObjectCache(dir).entryPath(key) +
           " cannot be linked (" + e.what() +
           "); it was deleted and the matmul micro-kernels are compiled again");
      l.object = buildMicroKernelObject();
      ObjectCache(dir).store(key, *l.object);
      l.addresses = loadIntoJit(*l.object);
    }
  }
  return *l.addresses;
}

const std::string &microKernelObjectInUse(const JitOptions &o) {
  loadedMicroKernels(o);
  return *library().object; // set once, never changed after loading
}

double provideMicroKernels(const llvm::Module &m, const JitOptions &o) {
  if (!declaresGenericMicroKernels(m))
    return 0;
  auto t0 = std::chrono::steady_clock::now();
  loadedMicroKernels(o);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace chainjit::compiler::jit

