#include "ObjectCache.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/Endian.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace chainjit::compiler::jit {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'C', 'J', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr size_t kSizeAt = 8, kDigestAt = 16, kHeaderBytes = 48;
// No object we write is this large; a bigger file is not read into memory.
constexpr uint64_t kMaxObjectBytes = uint64_t(1) << 30;

std::string defaultDirectory() {
  if (const char *d = std::getenv("CHAINJIT_CACHE_DIR"); d && *d)
    return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return std::string(d) + "/chainjit";
  if (const char *d = std::getenv("HOME"); d && *d)
    return std::string(d) + "/.cache/chainjit";
  // Per user: another user's directory of this name would not be trusted.
  return (fs::temp_directory_path() / ("chainjit-cache-" + std::to_string(::geteuid())))
      .string();
}

llvm::BLAKE3Result<32> checksum(const std::string &key, const std::string &object) {
  llvm::BLAKE3 hasher;
  hasher.update(key);
  hasher.update(object);
  return hasher.final();
}

std::string header(const std::string &key, const std::string &object) {
  std::string h(kHeaderBytes, '\0');
  std::memcpy(h.data(), kMagic, sizeof kMagic);
  llvm::support::endian::write64le(h.data() + kSizeAt, object.size());
  auto digest = checksum(key, object);
  std::memcpy(h.data() + kDigestAt, digest.data(), digest.size());
  return h;
}

} // namespace

ObjectCache::ObjectCache(std::string dir)
    : dir_(dir.empty() ? defaultDirectory() : std::move(dir)) {}

std::string ObjectCache::key(const std::string &moduleText, const std::string &target) {
  llvm::BLAKE3 hasher;
  hasher.update(moduleText);
  hasher.update(target);
  hasher.update(LLVM_VERSION_STRING);
  auto digest = hasher.final();
  static const char *hex = "0123456789abcdef";
  std::string s;
  for (uint8_t byte : digest) {
    s += hex[byte >> 4];
    s += hex[byte & 15];
  }
  return s;
}

std::string ObjectCache::entryPath(const std::string &key) const {
  return (fs::path(dir_) / (key + ".cjobj")).string();
}

std::string ObjectCache::distrust() const {
  struct stat st;
  if (::stat(dir_.c_str(), &st) != 0)
    return "the compile cache directory " + dir_ + " cannot be examined: " +
           std::strerror(errno);
  if (!S_ISDIR(st.st_mode))
    return "the compile cache path " + dir_ + " is not a directory";
  if (st.st_uid != ::geteuid())
    return "the compile cache directory " + dir_ + " belongs to another user (uid " +
           std::to_string(st.st_uid) + "); it is not used";
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return "the compile cache directory " + dir_ +
           " is writable by group or others (chmod go-w it); it is not used";
  return {};
}

ObjectCache::Lookup ObjectCache::load(const std::string &key) const {
  Lookup r;
  std::error_code ec;
  if (!fs::exists(dir_, ec))
    return r; // nothing cached yet
  if (r.problem = distrust(); !r.problem.empty())
    return r;
  const std::string path = entryPath(key);
  if (!fs::exists(fs::symlink_status(path, ec)))
    return r;
  auto damaged = [&](const std::string &why) {
    std::error_code ignored;
    fs::remove(path, ignored);
    r.discarded = true;
    r.problem = "the compile cache entry " + path + " is damaged (" + why +
                "); it was deleted and the graph is compiled again";
    return r;
  };
  uint64_t size = fs::file_size(path, ec);
  if (ec == std::errc::no_such_file_or_directory)
    return r; // deleted meanwhile (by another process that found it damaged)
  if (ec)
    return damaged("its size cannot be read: " + ec.message());
  if (size < kHeaderBytes)
    return damaged("truncated: " + std::to_string(size) + " bytes, less than its " +
                   std::to_string(kHeaderBytes) + "-byte header");
  if (size - kHeaderBytes > kMaxObjectBytes)
    return damaged(std::to_string(size) + " bytes, larger than any entry the cache writes");
  std::string bytes(size, '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size)) || in.peek() != EOF)
    return damaged("it cannot be read whole");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return damaged("it does not start with the cache format's magic bytes");
  uint64_t declared = llvm::support::endian::read64le(bytes.data() + kSizeAt);
  if (declared != size - kHeaderBytes)
    return damaged("its header declares " + std::to_string(declared) +
                   " bytes of object, the file holds " + std::to_string(size - kHeaderBytes));
  std::string object = bytes.substr(kHeaderBytes);
  auto digest = checksum(key, object);
  if (std::memcmp(bytes.data() + kDigestAt, digest.data(), digest.size()) != 0)
    return damaged("checksum mismatch");
  r.object = std::move(object);
  return r;
}

void ObjectCache::discard(const std::string &key) const {
  std::error_code ignored;
  fs::remove(entryPath(key), ignored);
}

void ObjectCache::store(const std::string &key, const std::string &object) const {
  namespace sfs = llvm::sys::fs;
  if (object.size() > kMaxObjectBytes)
    return;
  // Created private to the user (parents too, as XDG asks of ~/.cache).
  if (sfs::create_directories(dir_, /*IgnoreExisting=*/true, sfs::owner_all))
    return;
  if (!distrust().empty())
    return; // load() has said why
  // A unique name per writer (threads and processes), then an atomic rename.
  int fd = -1;
  llvm::SmallString<256> temp;
  if (sfs::createUniqueFile(entryPath(key) + ".tmp-%%%%%%%%", fd, temp, sfs::OF_None,
                            sfs::owner_read | sfs::owner_write))
    return;
  bool written;
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    out << header(key, object) << object;
    out.close();
    written = !out.has_error();
    out.clear_error();
  }
  if (!written || sfs::rename(temp, entryPath(key)))
    sfs::remove(temp);
}

} // namespace chainjit::compiler::jit
