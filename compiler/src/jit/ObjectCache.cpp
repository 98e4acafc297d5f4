#include "ObjectCache.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/Support/BLAKE3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace chainjit::compiler::jit {

namespace fs = std::filesystem;

static std::string defaultDirectory() {
  if (const char *d = std::getenv("CHAINJIT_CACHE_DIR"); d && *d)
    return d;
  if (const char *d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return std::string(d) + "/chainjit";
  if (const char *d = std::getenv("HOME"); d && *d)
    return std::string(d) + "/.cache/chainjit";
  return (fs::temp_directory_path() / "chainjit-cache").string();
}

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

std::optional<std::string> ObjectCache::load(const std::string &key) const {
  std::ifstream in(fs::path(dir_) / (key + ".o"), std::ios::binary);
  if (!in)
    return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  std::string s = bytes.str();
  // An object file starts with the ELF magic; anything else is damage.
  if (s.size() < 4 || s.compare(0, 4, "\x7f" "ELF") != 0)
    return std::nullopt;
  return s;
}

void ObjectCache::store(const std::string &key, const std::string &object) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return;
  fs::path final = fs::path(dir_) / (key + ".o");
  fs::path temp = fs::path(dir_) / (key + ".tmp." + std::to_string(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary);
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    if (!out)
      return (void)fs::remove(temp, ec);
  }
  fs::rename(temp, final, ec);
  if (ec)
    fs::remove(temp, ec);
}

} // namespace chainjit::compiler::jit
