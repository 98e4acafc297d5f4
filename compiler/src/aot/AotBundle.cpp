// writeAotBundle: plan and build the JIT's module for the graph, add the C
// interface (BundleModule), optimize and generate code for the chosen CPU,
// then write the header and one static library (the generated object and
// the kernel objects) into the bundle directory, each file through a
// temporary name so that a failure leaves no half-written file behind.
#include "chainjit/compiler/Aot.h"

#include "aot/AotTarget.h"
#include "aot/BundleHeader.h"
#include "aot/BundleModule.h"
#include "aot/KernelObject.h"
#include "jit/JitEngineImpl.h"
#include "jit/KernelChoice.h"
#include "jit/LoweringPlan.h"
#include "jit/ModuleBuilder.h"
#include "jit/kernels/gen/GenericMicroKernel.h"

#include "chainjit/ir/Error.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Object/ArchiveWriter.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

namespace chainjit::compiler {

namespace {

namespace fs = std::filesystem;

// Letters, digits and '_' stay; anything else becomes '_'; a leading digit
// gets a '_' before it.
std::string cIdentifier(const std::string &s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])))
    out = "_" + out;
  return out;
}

// Argument names that would clash with C or with NAME_run's own parameters.
bool reserved(const std::string &s) {
  static const std::set<std::string> words = {
      "workspace", "err", "err_size", "auto", "break", "case", "char", "const", "continue",
      "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if",
      "inline", "int", "long", "register", "restrict", "return", "short", "signed", "sizeof",
      "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile",
      "while", "bool", "true", "false", "class", "new", "delete", "this", "template",
      "namespace", "operator", "private", "public", "protected", "virtual"};
  return words.count(s) > 0;
}

aot::BundleSignature signature(const ir::Graph &g, const jit::LoweringPlan &plan,
                               const std::string &name, bool embed) {
  aot::BundleSignature sig;
  sig.name = name;
  sig.workspaceBytes = plan.arenaBytes;
  std::set<std::string> used;
  for (const ArgumentSpec &a : plan.arguments) {
    aot::BundleArgument b{a, cIdentifier(a.name), embed && a.role == ArgumentRole::Param};
    if (a.role == ArgumentRole::Update)
      b.cname += "_update";
    if (reserved(b.cname))
      b.cname += "_";
    if (!used.insert(b.cname).second)
      throw Error("aot: graph '" + g.name() + "': two arguments are both called '" + b.cname +
                  "' in C; rename one of them");
    sig.arguments.push_back(std::move(b));
  }
  return sig;
}

// Every param of the graph, with its declared type: the error lists all
// that are missing and all that differ.
void checkParams(const ir::Graph &g, const jit::LoweringPlan &plan,
                 const aot::ParamValues &params) {
  std::string missing, differ;
  for (const ArgumentSpec &a : plan.arguments) {
    if (a.role != ArgumentRole::Param)
      continue;
    auto it = params.find(a.name);
    if (it == params.end())
      missing += (missing.empty() ? "%" : ", %") + a.name;
    else if (it->second.type() != a.type)
      differ += (differ.empty() ? "" : "; ") + std::string("%") + a.name + " is declared " +
                a.type.str() + " but the weights hold " + it->second.type().str();
  }
  std::string problems;
  if (!missing.empty())
    problems = "the weights lack " + missing;
  if (!differ.empty())
    problems += (problems.empty() ? "" : "; ") + differ;
  if (!problems.empty())
    throw Error("aot: graph '" + g.name() + "': " + problems);
  if (!g.updates().empty())
    throw Error("aot: graph '" + g.name() + "' updates its params, which a bundle with "
                "embedded weights cannot do; choose the outputs to compute (--outputs)");
}

std::string compileObject(const ir::Graph &g, const jit::LoweringPlan &plan,
                          const JitOptions &jit, const aot::BundleSignature &sig,
                          const aot::ParamValues &params, const aot::AotTarget &target) {
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = jit::buildModule(g, plan, jit, ctx);
  // A bundle carries its own copy of the matmul micro-kernels it calls.
  jit::defineDeclaredMicroKernels(*m, jit::hostVectors());
  aot::addBundleInterface(*m, g, sig, params, target);
  m->setDataLayout(target.machine->createDataLayout());
  m->setTargetTriple(target.triple);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*m, &os))
    throw Error("internal: aot: the bundle's LLVM IR does not verify: " + os.str());
  optimizeModule(*m, *target.machine);
  return emitMachineCode(*m, *target.machine, false);
}

std::string archive(const std::string &name, const std::string &object) {
  std::vector<llvm::NewArchiveMember> members;
  const std::string member = name + ".o"; // MemberName refers to it
  llvm::NewArchiveMember generated(llvm::MemoryBufferRef(object, member));
  generated.MemberName = member;
  members.push_back(std::move(generated));
  for (size_t i = 0; i < aot::kKernelObjectCount; ++i) {
    const aot::KernelObject &k = aot::kKernelObjects[i];
    llvm::StringRef bytes(reinterpret_cast<const char *>(k.bytes), k.size);
    llvm::NewArchiveMember support(llvm::MemoryBufferRef(bytes, k.name));
    support.MemberName = k.name;
    members.push_back(std::move(support));
  }
  auto buffer = llvm::writeArchiveToBuffer(members, llvm::SymtabWritingMode::NormalSymtab,
                                           llvm::object::Archive::K_GNU,
                                           /*Deterministic=*/true, /*Thin=*/false);
  if (!buffer)
    throw Error("aot: writing the archive: " + llvm::toString(buffer.takeError()));
  return std::string((*buffer)->getBuffer());
}

// Writes each file as PATH.tmp first and renames them all at the end.
class BundleWriter {
public:
  explicit BundleWriter(std::string dir) : dir_(std::move(dir)) {}
  ~BundleWriter() {
    std::error_code ec;
    for (const fs::path &p : temporary_)
      fs::remove(p, ec);
  }
  void add(const std::string &file, const std::string &bytes) {
    fs::path tmp = fs::path(dir_) / (file + ".tmp");
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out)
      temporary_.push_back(tmp);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
      throw Error("cannot write " + tmp.string() + ": " + std::strerror(errno), SourceLoc{dir_});
    files_.push_back(file);
  }
  void commit() {
    for (size_t i = 0; i < files_.size(); ++i) {
      std::error_code ec;
      fs::rename(temporary_[i], fs::path(dir_) / files_[i], ec);
      if (ec)
        throw Error("cannot rename " + temporary_[i].string() + ": " + ec.message(),
                    SourceLoc{dir_});
    }
    temporary_.clear();
  }
  const std::vector<std::string> &files() const { return files_; }

private:
  std::string dir_;
  std::vector<fs::path> temporary_;
  std::vector<std::string> files_;
};

} // namespace

AotBundle writeAotBundle(const ir::Graph &g, const aot::ParamValues &params,
                         const std::string &dir, const AotOptions &options) {
  std::string name = cIdentifier(options.name.empty() ? g.name() : options.name);
  if (!options.name.empty() && name != options.name)
    throw Error("aot: the bundle name '" + options.name +
                "' is no C identifier (letters, digits and '_', not starting with a digit)");
  JitOptions jit = options.jit;
  jit.checkNumerics = false;
  jit.profile = false; // a bundle has no way to read the counters back
  jit.useCache = false;
  jit::LoweringPlan plan = jit::planLowering(g, jit);
  bool embed = !params.empty();
  if (embed)
    checkParams(g, plan, params);
  aot::BundleSignature sig = signature(g, plan, name, embed);
  aot::AotTarget target = aot::resolveTarget(options.targetCpu);
  std::string object = compileObject(g, plan, jit, sig, params, target);

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error("cannot create the bundle directory: " +
                    (ec ? ec.message() : std::string("it exists and is no directory")),
                SourceLoc{dir});
  BundleWriter writer(dir);
  writer.add(name + ".h", aot::bundleHeader(g, sig, target, options));
  writer.add("lib" + name + ".a", archive(name, object));
  writer.commit();

  AotBundle b;
  b.name = name;
  b.dir = dir;
  b.files = writer.files();
  b.targetCpu = target.cpu;
  b.features = target.features;
  b.workspaceBytes = plan.arenaBytes;
  return b;
}

} // namespace chainjit::compiler
