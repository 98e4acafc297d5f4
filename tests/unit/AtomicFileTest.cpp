// AtomicFile: the name never refers to a half-written file, an abandoned
// write leaves the old file and no temporary, and special files are either
// refused or written through, never replaced.
#include "chainjit/runtime/AtomicFile.h"

#include "FileTesting.h"

#include <doctest/doctest.h>

#include <filesystem>

using chainjit::runtime::AtomicFile;
using chainjit::testing::errorOf;
using chainjit::testing::readBytes;
using chainjit::testing::TempFile;

TEST_CASE("atomic file: the new bytes appear only on commit") {
  TempFile old("atomic_out", "old");
  std::string path = old.str();
  {
    AtomicFile f(path, AtomicFile::OnSpecialFile::Refuse, "cannot save");
    f.write("new ");
    CHECK(readBytes(path) == "old");
    f.write("bytes");
    f.commit();
  }
  CHECK(readBytes(path) == "new bytes");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("atomic file: a writer abandoned by an error keeps the old file") {
  TempFile old("atomic_out", "old");
  std::string path = old.str();
  std::string e = errorOf([&] {
    AtomicFile f(path, AtomicFile::OnSpecialFile::WriteThrough, "cannot write");
    f.write("half");
    throw chainjit::Error("the producer failed");
  });
  CHECK(e.find("the producer failed") != std::string::npos);
  CHECK(readBytes(path) == "old");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("atomic file: special files are refused or written through, never replaced") {
  std::string e = errorOf(
      [] { AtomicFile f("/dev/null", AtomicFile::OnSpecialFile::Refuse, "cannot save checkpoint"); });
  CHECK(e.find("/dev/null: error: cannot save checkpoint: the path exists and is not a regular "
               "file") == 0);
  {
    AtomicFile f("/dev/null", AtomicFile::OnSpecialFile::WriteThrough, "cannot write");
    f.write("discarded");
    f.commit();
  }
  CHECK(std::filesystem::is_character_file("/dev/null"));
  CHECK_FALSE(std::filesystem::exists("/dev/null.tmp"));
}
