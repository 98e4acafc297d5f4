// A file written so that its name never refers to a half-written file: the
// bytes go to PATH.tmp, which is synced and renamed over PATH on commit().
// An error, or an AtomicFile destroyed without commit(), removes PATH.tmp and
// leaves whatever was at PATH before untouched.
//
// Renaming over a path that is not a regular file (/dev/stdout, a pipe, a
// device) would replace that special file itself; the owner chooses what
// happens then: refuse (checkpoints, whose callers expect a file to resume
// from) or write through into it directly (predictions, weights exports).
#pragma once

#include <string>
#include <string_view>

namespace chainjit::runtime {

class AtomicFile {
public:
  enum class OnSpecialFile { Refuse, WriteThrough };

  // Every error is a chainjit::Error located at `path` whose message starts
  // with `failurePrefix` ("cannot save checkpoint").
  AtomicFile(std::string path, OnSpecialFile onSpecial, std::string failurePrefix);
  ~AtomicFile();
  AtomicFile(const AtomicFile &) = delete;
  AtomicFile &operator=(const AtomicFile &) = delete;

  void write(std::string_view bytes);
  // Syncs and renames; for a special file, only checks that all was written.
  void commit();

private:
  [[noreturn]] void fail(const std::string &why);

  std::string path_, tmp_, prefix_;
  int fd_ = -1;
  bool through_ = false, committed_ = false;
};

} // namespace chainjit::runtime
