#include "file_record.h"

#include <cstdarg>
#include <cstdio>

#include "flakelab/engine/error.h"

namespace flakelab::engine {

#define FLAKELAB_FILE_KIND(value, module, shape, record) const FileRecord* record();
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND

// Kinds whose File has no record of its own (validate_files() and their tables check them).
const FileRecord* no_record() { return nullptr; }

const FileRecord* file_record(pb::FileKind kind) {
#define FLAKELAB_FILE_KIND(value, module, shape, record) \
  if (kind == pb::value) return record();
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND
  return nullptr;
}

const std::vector<const FileRecord*>& file_records() {
  static const std::vector<const FileRecord*> records = [] {
    std::vector<const FileRecord*> out;
#define FLAKELAB_FILE_KIND(value, module, shape, record) \
  if (const FileRecord* r = record()) out.push_back(r);
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND
    return out;
  }();
  return records;
}

void TableCheck::fail(const std::string& field, const std::string& problem) const {
  throw ImageError(file_, field, problem);
}

void TableCheck::count(const std::string& field, int n, uint64_t max) const {
  if (static_cast<uint64_t>(n) > max)
    fail(field, "count " + std::to_string(n) + " exceeds the limit of " + std::to_string(max));
}

void RecordCheck::fail(const std::string& field, const std::string& problem) const {
  throw ImageError(file_, "files[" + std::to_string(index_) + "]." + field, problem);
}

void RecordCheck::count(const std::string& field, int n, uint64_t max) const {
  if (static_cast<uint64_t>(n) > max)
    fail(field, "count " + std::to_string(n) + " exceeds the limit of " + std::to_string(max));
}

int64_t RecordCheck::file_of(uint32_t fd) const {
  auto it = file_of_.find(fd);
  return it == file_of_.end() ? -1 : static_cast<int64_t>(it->second);
}

std::string record_text(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

}  // namespace flakelab::engine
