// The C header of a bundle: its entry points with one typed pointer per
// argument, every argument's dtype and shape as macros, the workspace size,
// the ABI version, the target CPU and the status codes.
#pragma once

#include "aot/AotTarget.h"
#include "aot/BundleModule.h"
#include "chainjit/compiler/Aot.h"

#include <string>

namespace chainjit::compiler::aot {

std::string bundleHeader(const ir::Graph &g, const BundleSignature &sig, const AotTarget &target,
                         const AotOptions &options);

} // namespace chainjit::compiler::aot
