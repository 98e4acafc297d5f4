// --alloc-limit BYTES: the most bytes one graph may allocate (ir/AllocLimit.h),
// for the commands that evaluate or train graphs.
#include "Commands.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"

namespace chainjit::cli {

void addAllocLimitOption(CLI::App *cmd, std::string &value) {
  cmd->add_option("--alloc-limit", value,
                  "The most bytes one graph may allocate (params, intermediate values, "
                  "inputs), e.g. 512M or 8G (default: $CHAINJIT_ALLOC_LIMIT, else the "
                  "machine's memory)");
}

void applyAllocLimit(const std::string &value) {
  if (value.empty())
    return;
  uint64_t bytes = 0;
  try {
    bytes = ir::parseByteCount(value);
  } catch (const Error &e) {
    throw UsageError("--alloc-limit " + e.diagnostics().front().message);
  }
  if (bytes == 0)
    throw UsageError("--alloc-limit must be positive, got '" + value + "'");
  ir::setAllocLimit(bytes);
}

} // namespace chainjit::cli
