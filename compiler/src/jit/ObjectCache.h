// The on-disk cache of compiled graphs: object files named by a BLAKE3 hash
// of the unoptimized module text, the CPU name and features and the LLVM
// version, so a hit skips both the optimization pipeline and codegen (an
// LLVM ObjectCache would only skip codegen). Writes are atomic (temporary
// file, then rename); a damaged or unreadable entry counts as a miss.
#pragma once

#include <optional>
#include <string>

namespace chainjit::compiler::jit {

class ObjectCache {
public:
  // `dir` empty: $CHAINJIT_CACHE_DIR, else $XDG_CACHE_HOME/chainjit, else
  // $HOME/.cache/chainjit.
  explicit ObjectCache(std::string dir);

  static std::string key(const std::string &moduleText, const std::string &target);
  std::optional<std::string> load(const std::string &key) const;
  // Best effort: a cache that cannot be written is not an error.
  void store(const std::string &key, const std::string &object) const;
  const std::string &directory() const { return dir_; }

private:
  std::string dir_;
};

} // namespace chainjit::compiler::jit
