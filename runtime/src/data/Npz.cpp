// NumPy .npz archives through libzip (Npz.h). Archives are read from and
// written to memory (zip_source_buffer), so the bytes go through the same
// size checks as every other data file (FileBytes.h).
#include "chainjit/runtime/Npz.h"

#include "chainjit/runtime/AtomicFile.h"

#include "FileBytes.h"

#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/TensorIO.h"

#include <zip.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

namespace chainjit::runtime {

namespace {

using detail::failIn;

constexpr std::string_view kMemberSuffix = ".npy";
constexpr time_t kMemberTime = 315576000; // 1980-01-01 12:00 UTC

std::string zipErrorText(zip_error_t *e) { return zip_error_strerror(e); }

struct ArchiveCloser {
  void operator()(zip_t *z) const { zip_discard(z); }
};
struct MemberCloser {
  void operator()(zip_file_t *f) const { zip_fclose(f); }
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;
using Member = std::unique_ptr<zip_file_t, MemberCloser>;

// "member 'W1.npy'": how errors name a member.
std::string memberLabel(const std::string &name) { return "member '" + name + "'"; }

std::string readMember(zip_t *za, zip_uint64_t index, const std::string &name,
                       uint64_t size, const std::string &filename) {
  Member f(zip_fopen_index(za, index, 0));
  if (!f)
    failIn(filename, memberLabel(name) + ": cannot be read: " +
                         zipErrorText(zip_get_error(za)));
  std::string bytes(size, '\0');
  uint64_t got = 0;
  while (got < size) {
    zip_int64_t n = zip_fread(f.get(), bytes.data() + got, size - got);
    if (n < 0)
      failIn(filename, memberLabel(name) + ": " + zipErrorText(zip_file_get_error(f.get())));
    if (n == 0)
      failIn(filename, memberLabel(name) + ": holds " + std::to_string(got) +
                           " bytes, but the archive says " + std::to_string(size));
    got += static_cast<uint64_t>(n);
  }
  // Reading past the end makes libzip check the CRC and the real length.
  char extra = 0;
  zip_int64_t n = zip_fread(f.get(), &extra, 1);
  if (n < 0)
    failIn(filename, memberLabel(name) + ": " + zipErrorText(zip_file_get_error(f.get())));
  if (n > 0)
    failIn(filename, memberLabel(name) + ": holds more bytes than the archive says (" +
                         std::to_string(size) + ")");
  return bytes;
}

} // namespace

TensorMap parseNpz(std::string_view bytes, const std::string &filename) {
  // libzip would open an empty file as an empty archive.
  if (bytes.empty())
    failIn(filename, "an empty file, not an .npz (zip) archive");
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t *src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!src) {
    std::string text = zipErrorText(&error);
    zip_error_fini(&error);
    failIn(filename, "cannot read the archive: " + text);
  }
  Archive za(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error));
  if (!za) {
    zip_source_free(src);
    std::string text = zip_error_code_zip(&error) == ZIP_ER_EXISTS
                           ? "two members have one name (an archive holds each tensor once)"
                           : zipErrorText(&error);
    zip_error_fini(&error);
    failIn(filename, "not a valid .npz (zip) archive: " + text);
  }
  zip_error_fini(&error);

  zip_int64_t count = zip_get_num_entries(za.get(), 0);
  if (count < 0)
    failIn(filename, "cannot count the members of the archive");
  TensorMap out;
  std::set<std::string> seen;
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 ||
        !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
      failIn(filename, "member " + std::to_string(i + 1) + " of " + std::to_string(count) +
                           ": no name or size: " + zipErrorText(zip_get_error(za.get())));
    std::string name = st.name;
    if (!seen.insert(name).second)
      failIn(filename, memberLabel(name) + " appears twice (an archive holds each tensor once)");
    if (name.size() <= kMemberSuffix.size() ||
        name.compare(name.size() - kMemberSuffix.size(), kMemberSuffix.size(), kMemberSuffix) != 0)
      failIn(filename, memberLabel(name) +
                           ": not a NAME.npy member (an .npz archive holds .npy files only)");
    std::string key = name.substr(0, name.size() - kMemberSuffix.size());
    // The declared size is checked before anything is inflated, one member
    // at a time and all of them together.
    detail::checkAllocIn(filename, st.size, memberLabel(name));
    total += st.size;
    detail::checkAllocIn(filename, total, "the members up to " + memberLabel(name));
    std::string data = readMember(za.get(), static_cast<zip_uint64_t>(i), name, st.size,
                                  filename);
    try {
      out.emplace(key, parseNpy(data, filename + ": " + memberLabel(name)));
    } catch (const Error &e) {
      failIn(filename, memberLabel(name) + ": not a valid .npy file: " +
                           e.diagnostics().front().message);
    }
  }
  return out;
}

TensorMap loadNpz(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    failIn(path, "no such file");
  if (std::filesystem::is_directory(path, ec))
    failIn(path, "is a directory, not an .npz archive");
  return parseNpz(detail::readFileBytes(path), path);
}

std::string formatNpz(const TensorMap &tensors, const std::string &filename) {
  // libzip writes nothing at all for an archive without members, but an
  // empty .npz (numpy.savez with no arrays) is the zip format's empty
  // archive: the 22-byte end-of-central-directory record alone.
  if (tensors.empty())
    return std::string("PK\x05\x06", 4) + std::string(18, '\0');
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t *src = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (!src)
    failIn(filename, "cannot create the archive: " + zipErrorText(&error));
  Archive za(zip_open_from_source(src, ZIP_TRUNCATE, &error));
  if (!za) {
    zip_source_free(src);
    failIn(filename, "cannot create the archive: " + zipErrorText(&error));
  }
  // libzip reads the member data when the archive is closed.
  std::vector<std::string> members;
  members.reserve(tensors.size());
  for (const auto &[name, tensor] : tensors) {
    if (name.empty())
      failIn(filename, "a tensor without a name cannot be an archive member");
    members.push_back(formatNpy(tensor));
    zip_source_t *data =
        zip_source_buffer(za.get(), members.back().data(), members.back().size(), 0);
    zip_int64_t index = data ? zip_file_add(za.get(), (name + std::string(kMemberSuffix)).c_str(),
                                            data, ZIP_FL_ENC_UTF_8)
                             : -1;
    if (index < 0) {
      if (data)
        zip_source_free(data);
      failIn(filename, memberLabel(name + std::string(kMemberSuffix)) +
                           ": cannot be added: " + zipErrorText(zip_get_error(za.get())));
    }
    // Stored, with a fixed time stamp (1980-01-01, the zip format's first
    // day) instead of the clock: the same tensors give the same bytes.
    auto at = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(za.get(), at, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(za.get(), at, kMemberTime, 0) != 0)
      failIn(filename, memberLabel(name + std::string(kMemberSuffix)) +
                           ": cannot be set up: " + zipErrorText(zip_get_error(za.get())));
  }
  // Keep the in-memory source alive past zip_close, which writes into it.
  zip_source_keep(src);
  if (zip_close(za.get()) != 0) {
    std::string text = zipErrorText(zip_get_error(za.get()));
    zip_source_free(src);
    failIn(filename, "cannot write the archive: " + text);
  }
  za.release(); // closed
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> keep(src, zip_source_free);
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(src, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || zip_source_open(src) != 0)
    failIn(filename, "cannot read back the archive just written");
  std::string bytes(st.size, '\0');
  zip_int64_t n = zip_source_read(src, bytes.data(), st.size);
  zip_source_close(src);
  if (n < 0 || static_cast<zip_uint64_t>(n) != st.size)
    failIn(filename, "cannot read back the archive just written");
  return bytes;
}

void saveNpz(const std::string &path, const TensorMap &tensors) {
  std::string bytes = formatNpz(tensors, path);
  // A path that is no regular file (/dev/stdout, a pipe) is written directly.
  AtomicFile file(path, AtomicFile::OnSpecialFile::WriteThrough, "cannot write the archive");
  file.write(bytes);
  file.commit();
}

} // namespace chainjit::runtime
