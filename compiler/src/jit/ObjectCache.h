// The on-disk cache of compiled graphs: object files named by a BLAKE3 hash
// of the unoptimized module text, the CPU name and features and the LLVM
// version, so a hit skips both the optimization pipeline and codegen (an
// LLVM ObjectCache would only skip codegen).
//
// The files are input like any other: a disk error, a crash mid-write or a
// stray edit must never make us execute garbage. So every entry is
//   "CJCACHE1"                         8 bytes, the format
//   object size                        8 bytes, little-endian
//   BLAKE3(key, object)               32 bytes, binds the object to its name
//   the object file
// and load() checks all of it before the object is handed to the linker; a
// bad entry is deleted and reported. Entries are written to a unique
// temporary file and renamed into place, so readers never see half of one.
// The directory is created 0700; one owned by another user or writable by
// group or others is not trusted (anyone who can write there could plant
// code, and a checksum is no signature).
#pragma once

#include <optional>
#include <string>

namespace chainjit::compiler::jit {

class ObjectCache {
public:
  // `dir` empty: $CHAINJIT_CACHE_DIR, else $XDG_CACHE_HOME/chainjit, else
  // $HOME/.cache/chainjit, else <tmp>/chainjit-cache-<uid>.
  explicit ObjectCache(std::string dir);

  static std::string key(const std::string &moduleText, const std::string &target);

  struct Lookup {
    std::optional<std::string> object; // a verified object, on a hit
    // Why a present entry or the directory was not used (an entry failed
    // verification and was deleted; the directory is not private); empty
    // for a hit or a plain miss.
    std::string problem;
    bool discarded = false; // an entry failed verification and was deleted
  };
  Lookup load(const std::string &key) const;
  // Best effort: a cache that cannot be written is not an error.
  void store(const std::string &key, const std::string &object) const;
  // Deletes the entry (one that passed verification yet proved unusable).
  void discard(const std::string &key) const;

  const std::string &directory() const { return dir_; }
  std::string entryPath(const std::string &key) const;

private:
  // Empty when the directory is ours alone, else why it is not.
  std::string distrust() const;
  std::string dir_;
};

} // namespace chainjit::compiler::jit
