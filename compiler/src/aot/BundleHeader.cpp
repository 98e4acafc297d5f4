#include "aot/BundleHeader.h"

#include "aot/BundleRuntime.h"

#include <cctype>
#include <sstream>

namespace chainjit::compiler::aot {

namespace {

std::string upper(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const char *ctype(ir::DType t) {
  switch (t) {
  case ir::DType::f32: return "float";
  case ir::DType::f64: return "double";
  case ir::DType::i32: return "int32_t";
  case ir::DType::boolean: return "uint8_t";
  }
  return "void";
}

const char *roleName(ArgumentRole r) {
  switch (r) {
  case ArgumentRole::Input: return "input";
  case ArgumentRole::Param: return "param";
  case ArgumentRole::Output: return "output";
  case ArgumentRole::Update: return "update";
  }
  return "";
}

std::string shapeList(const ir::Shape &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out;
}

} // namespace

std::string bundleHeader(const ir::Graph &g, const BundleSignature &sig, const AotTarget &target,
                         const AotOptions &options) {
  const std::string &n = sig.name;
  const std::string N = upper(n);
  std::ostringstream h;
  h << "/* " << n << ".h: the ahead-of-time bundle of graph '" << g.name()
    << "', written by `chainjit compile --aot`.\n"
    << " *\n"
    << " * Link:  cc prog.c -I DIR DIR/lib" << n << ".a -lopenblas -lm\n"
    << " * No LLVM and no chainjit library are needed at run time. docs/deploy.md\n"
    << " * describes the ABI. Buffers are dense and row-major, in the dtype given\n"
    << " * per argument below; inputs (and params passed in) are only read,\n"
    << " * outputs are written and must not overlap them.\n";
  if (!options.headerComment.empty()) {
    h << " *\n";
    std::istringstream lines(options.headerComment);
    for (std::string line; std::getline(lines, line);) {
      // "NAME_run" is the function, "NAME_X" a macro of this bundle.
      for (size_t at; (at = line.find("NAME_run")) != std::string::npos;)
        line.replace(at, 4, n);
      for (size_t at; (at = line.find("NAME_")) != std::string::npos;)
        line.replace(at, 4, N);
      h << " * " << line << "\n";
    }
  }
  h << " */\n"
    << "#ifndef " << N << "_H\n#define " << N << "_H\n\n"
    << "#include <stddef.h>\n#include <stdint.h>\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "/* The version of the bundle ABI (the entry points, the descriptor in the\n"
    << " * object, the status codes) this header and its object follow. */\n"
    << "#define " << N << "_ABI_VERSION " << CJ_BUNDLE_ABI_VERSION << "\n\n"
    << "/* The CPU the code was compiled for and the features it may use;\n"
    << " * " << n << "_check() and " << n << "_run() refuse a CPU that lacks one. */\n"
    << "#define " << N << "_TARGET_CPU \"" << target.cpu << "\"\n";
  std::string features;
  for (const std::string &f : target.features)
    features += (features.empty() ? "+" : ",+") + f;
  h << "#define " << N << "_TARGET_FEATURES \"" << features << "\"\n\n"
    << "/* Scratch memory one call uses. Pass NULL as the workspace and " << n
    << "_run\n * allocates (and frees) it; or pass your own, aligned to "
    << N << "_WORKSPACE_ALIGNMENT:\n * one per thread that calls at the same time. */\n"
    << "#define " << N << "_WORKSPACE_BYTES " << sig.workspaceBytes << "\n"
    << "#define " << N << "_WORKSPACE_ALIGNMENT 64\n\n"
    << "/* Status codes: 0, or an error with a message in err. */\n"
    << "#define " << N << "_OK " << CJ_BUNDLE_OK << "\n"
    << "#define " << N << "_SINGULAR_MATRIX " << CJ_BUNDLE_SINGULAR_MATRIX << "\n"
    << "#define " << N << "_LABEL_OUT_OF_RANGE " << CJ_BUNDLE_LABEL_OUT_OF_RANGE << "\n"
    << "#define " << N << "_INDEX_OUT_OF_RANGE " << CJ_BUNDLE_INDEX_OUT_OF_RANGE << "\n"
    << "#define " << N << "_INVALID_CSR " << CJ_BUNDLE_INVALID_CSR << "\n"
    << "#define " << N << "_OUT_OF_MEMORY " << CJ_BUNDLE_OUT_OF_MEMORY << "\n"
    << "#define " << N << "_CPU_UNSUPPORTED " << CJ_BUNDLE_CPU_UNSUPPORTED << "\n"
    << "#define " << N << "_BAD_ARGUMENT " << CJ_BUNDLE_BAD_ARGUMENT << "\n\n";
  for (const auto &[key, value] : options.headerDefines)
    h << "#define " << N << "_" << key << " " << value << "\n";
  if (!options.headerDefines.empty())
    h << "\n";
  h << "/* The arguments, in the order of " << n << "_run. */\n";
  for (const BundleArgument &a : sig.arguments) {
    const std::string A = N + "_" + upper(a.cname);
    h << "/* " << roleName(a.spec.role) << " %" << a.spec.name << " : " << a.spec.type.str()
      << (a.embedded ? " (embedded in the object: not an argument)" : "") << " */\n"
      << "#define " << A << "_RANK " << a.spec.type.rank() << "\n"
      << "#define " << A << "_SHAPE {" << shapeList(a.spec.type.shape) << "}\n"
      << "#define " << A << "_ELEMENTS " << a.spec.type.numel() << "\n";
  }
  h << "\n/* 0 when this CPU has every feature the code uses; else " << N
    << "_CPU_UNSUPPORTED\n * and a message naming the missing ones in err (err_size bytes;\n"
    << " * err may be NULL). */\n"
    << "int32_t " << n << "_check(char *err, size_t err_size);\n\n"
    << "/* Runs the graph: 0, or a status code with a message in err naming the\n"
    << " * op that failed. Checks the CPU first. Thread-safe: calls may run at\n"
    << " * the same time when each has its own workspace (or NULL) and outputs. */\n"
    << "int32_t " << n << "_run(";
  bool first = true;
  for (const BundleArgument &a : sig.arguments) {
    if (a.embedded)
      continue;
    bool written = a.spec.role == ArgumentRole::Output || a.spec.role == ArgumentRole::Update;
    h << (first ? "" : ", ") << (written ? "" : "const ") << ctype(a.spec.type.dtype) << " *"
      << a.cname;
    first = false;
  }
  h << (first ? "" : ", ") << "void *workspace, char *err, size_t err_size);\n\n"
    << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h.str();
}

} // namespace chainjit::compiler::aot
