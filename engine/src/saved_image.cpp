#include "saved_image.h"

#include <fcntl.h>

#include <cstdio>
#include <map>
#include <set>

#include "flakelab/engine/error.h"
#include "kinds/file_kind_traits.h"

namespace flakelab::engine {
namespace {

constexpr uint64_t kPage = 4096;

std::string at(const char* list, int i, const char* field) {
  return std::string(list) + "[" + std::to_string(i) + "]." + field;
}

void validate_runs(const pb::SavedFile& f, int i, const std::string& file, uint64_t& total) {
  if (f.data_size() > SavedFileLimits::kMaxRuns)
    throw ImageError(file, at("saved_files", i, "data"),
                     "count " + std::to_string(f.data_size()) + " exceeds the limit of " +
                         std::to_string(SavedFileLimits::kMaxRuns));
  uint64_t end = 0, stored = 0;
  for (int r = 0; r < f.data_size(); ++r) {
    const auto& run = f.data(r);
    std::string field = "saved_files[" + std::to_string(i) + "].data[" + std::to_string(r) + "]";
    if (run.data().empty()) throw ImageError(file, field + ".data", "is empty");
    if (r > 0 && run.offset() < end)
      throw ImageError(file, field + ".offset", std::to_string(run.offset()) + " overlaps or precedes the previous run");
    if (run.offset() > f.size() || run.data().size() > f.size() - run.offset())
      throw ImageError(file, field + ".offset", "run ends beyond the file size " + std::to_string(f.size()));
    end = run.offset() + run.data().size();
    stored += run.data().size();
  }
  if (stored > SavedFileLimits::kMaxFileBytes)
    throw ImageError(file, at("saved_files", i, "data"),
                     std::to_string(stored) + " stored bytes exceed the limit of " +
                         std::to_string(SavedFileLimits::kMaxFileBytes));
  total += stored;
  if (total > SavedFileLimits::kMaxTotalBytes)
    throw ImageError(file, at("saved_files", i, "data"),
                     "stored bytes of all saved files exceed the limit of " +
                         std::to_string(SavedFileLimits::kMaxTotalBytes));
}

}  // namespace

bool is_saved_file_kind(pb::FileKind kind) { return is_saved_table_kind(kind); }

void validate_saved_content(const pb::Process& p, const std::string& file) {
  auto fail = [&](const std::string& field, const std::string& problem) { throw ImageError(file, field, problem); };
  if (static_cast<uint64_t>(p.saved_files_size()) > ImageLimits::kMaxFds)
    fail("saved_files", "count " + std::to_string(p.saved_files_size()) + " exceeds the limit of " +
                            std::to_string(ImageLimits::kMaxFds));
  std::map<uint32_t, int> saved;  // id -> index
  uint64_t total = 0;
  for (int i = 0; i < p.saved_files_size(); ++i) {
    const auto& f = p.saved_files(i);
    if (f.id() == 0) fail(at("saved_files", i, "id"), "must not be 0");
    if (!saved.emplace(f.id(), i).second) fail(at("saved_files", i, "id"), std::to_string(f.id()) + " appears twice");
    if (f.mode() & ~07777u) fail(at("saved_files", i, "mode"), "0" + std::to_string(f.mode()) + " has bits outside 07777");
    if (f.size() > SavedFileLimits::kMaxFileSize)
      fail(at("saved_files", i, "size"), std::to_string(f.size()) + " exceeds the limit of " +
                                             std::to_string(SavedFileLimits::kMaxFileSize));
    if (f.path().find('\0') != std::string::npos) fail(at("saved_files", i, "path"), "contains a NUL byte");
    switch (f.kind()) {
      case pb::SAVED_UNLINKED: {
        const std::string& path = f.path();
        if (path.size() < 2 || path[0] != '/' || path.back() == '/' || path.size() > ImageLimits::kMaxPath)
          fail(at("saved_files", i, "path"), "\"" + path.substr(0, 64) + "\" is not an absolute path of a file");
        break;
      }
      case pb::SAVED_MEMFD:
        if (f.path().size() > SavedFileLimits::kMaxMemfdName)
          fail(at("saved_files", i, "path"), "memfd name of " + std::to_string(f.path().size()) + " bytes is too long");
        break;
      case pb::SAVED_SHARED_ANON:
        if (!f.path().empty()) fail(at("saved_files", i, "path"), "must be empty for shared anonymous memory");
        if (f.size() == 0 || f.size() % kPage)
          fail(at("saved_files", i, "size"), std::to_string(f.size()) + " is not a positive number of pages");
        break;
      default:
        fail(at("saved_files", i, "kind"), "unknown saved file kind " + std::to_string(static_cast<int>(f.kind())));
    }
    if (f.kind() != pb::SAVED_MEMFD && f.seals() != 0) fail(at("saved_files", i, "seals"), "only memfds have seals");
    if (f.seals() & ~SavedFileLimits::kKnownSeals) fail(at("saved_files", i, "seals"), "has unknown bits");
    validate_runs(f, i, file, total);
  }

  if (static_cast<uint64_t>(p.fifos_size()) > ImageLimits::kMaxFds)
    fail("fifos", "count " + std::to_string(p.fifos_size()) + " exceeds the limit of " + std::to_string(ImageLimits::kMaxFds));
  std::map<uint32_t, int> fifos;
  for (int i = 0; i < p.fifos_size(); ++i) {
    const auto& f = p.fifos(i);
    if (f.id() == 0) fail(at("fifos", i, "id"), "must not be 0");
    if (!fifos.emplace(f.id(), i).second) fail(at("fifos", i, "id"), std::to_string(f.id()) + " appears twice");
    if (f.capacity() < kPage || f.capacity() > ImageLimits::kMaxPipeCapacity || (f.capacity() & (f.capacity() - 1)))
      fail(at("fifos", i, "capacity"), std::to_string(f.capacity()) + " is not a valid pipe size");
    if (f.data().size() > f.capacity())
      fail(at("fifos", i, "data"), std::to_string(f.data().size()) + " bytes do not fit its capacity");
  }

  std::set<uint32_t> used;
  std::map<uint32_t, const pb::File*> fifo_file;  // first File of each Fifo
  std::map<std::string, uint32_t> fifo_by_path;
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (f.kind() != pb::FILE_SAVED && f.saved_file() != 0)
      fail(at("files", i, "saved_file"), "is set on a " + pb::FileKind_Name(f.kind()));
    if (f.kind() != pb::FILE_FIFO && f.fifo_id() != 0)
      fail(at("files", i, "fifo_id"), "is set on a " + pb::FileKind_Name(f.kind()));
    if (f.kind() == pb::FILE_SAVED) {
      if (!saved.count(f.saved_file()))
        fail(at("files", i, "saved_file"), std::to_string(f.saved_file()) + " is not in saved_files");
      if (f.flags() & O_PATH) fail(at("files", i, "flags"), "O_PATH descriptors of saved files are not restorable");
      used.insert(f.saved_file());
    }
    if (f.kind() == pb::FILE_FIFO) {
      if (!fifos.count(f.fifo_id())) fail(at("files", i, "fifo_id"), std::to_string(f.fifo_id()) + " is not in fifos");
      auto [it, first] = fifo_file.emplace(f.fifo_id(), &f);
      if (!first && (it->second->path() != f.path() || it->second->inode() != f.inode()))
        fail(at("files", i, "path"), "differs from another open file of the same FIFO");
      auto [pit, new_path] = fifo_by_path.emplace(f.path(), f.fifo_id());
      if (!new_path && pit->second != f.fifo_id())
        fail(at("files", i, "fifo_id"), "another FIFO record has the same path");
    }
  }
  for (const auto& [id, i] : fifos)
    if (!fifo_file.count(id)) fail(at("fifos", i, "id"), std::to_string(id) + " is not used by any file");

  for (int i = 0; i < p.vmas_size(); ++i) {
    const auto& v = p.vmas(i);
    if (v.saved_file() == 0) {
      if (v.kind() == pb::VMA_SAVED_SHARED) fail(at("vmas", i, "saved_file"), "is missing");
      continue;
    }
    if (v.kind() != pb::VMA_SAVED_SHARED && v.kind() != pb::VMA_FILE_PRIVATE)
      fail(at("vmas", i, "saved_file"), "is set on a " + pb::VmaKind_Name(v.kind()) + " mapping");
    if (!saved.count(v.saved_file()))
      fail(at("vmas", i, "saved_file"), std::to_string(v.saved_file()) + " is not in saved_files");
    used.insert(v.saved_file());
  }
  for (const auto& [id, i] : saved)
    if (!used.count(id)) fail(at("saved_files", i, "id"), std::to_string(id) + " is not used by any file or mapping");
}

std::string show_saved_content(const pb::Process& p) {
  using ull = unsigned long long;
  std::string out;
  char buf[512];
  if (p.saved_files_size() > 0) {
    uint64_t total = 0;
    for (const auto& f : p.saved_files())
      for (const auto& r : f.data()) total += r.data().size();
    snprintf(buf, sizeof(buf), "saved files %d (%llu bytes stored)\n", p.saved_files_size(), static_cast<ull>(total));
    out += buf;
  }
  for (const auto& f : p.saved_files()) {
    uint64_t stored = 0;
    for (const auto& r : f.data()) stored += r.data().size();
    std::string name = f.kind() == pb::SAVED_MEMFD ? "\"" + f.path() + "\"" : f.path();
    snprintf(buf, sizeof(buf), "  #%u %s %s size %llu mode 0%o seals 0x%x, %llu bytes stored in %d runs\n", f.id(),
             pb::SavedFileKind_Name(f.kind()).c_str(), name.c_str(), static_cast<ull>(f.size()), f.mode(), f.seals(),
             static_cast<ull>(stored), f.data_size());
    out += buf;
  }
  if (p.fifos_size() > 0) {
    snprintf(buf, sizeof(buf), "fifos %d\n", p.fifos_size());
    out += buf;
  }
  for (const auto& f : p.fifos()) {
    snprintf(buf, sizeof(buf), "  fifo #%u capacity %u, %zu unread bytes\n", f.id(), f.capacity(), f.data().size());
    out += buf;
  }
  return out;
}

}  // namespace flakelab::engine
