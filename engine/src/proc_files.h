// base's /proc readers for the engine: the same calls, errors as EngineError.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base_errors.h"
#include "flakelab/base/procfs.h"

namespace flakelab::engine::procfs {

using base::procfs::MapEntry;
using base::procfs::split_words;

inline std::string read_file(const std::string& path) {
  return with_engine_errors([&] { return base::procfs::read_file(path); });
}
inline std::string read_link(const std::string& path) {
  return with_engine_errors([&] { return base::procfs::read_link(path); });
}
inline std::vector<MapEntry> read_maps(pid_t pid, bool vm_flags = true) {
  return with_engine_errors([&] { return base::procfs::read_maps(pid, vm_flags); });
}
inline std::string status_field(pid_t pid, const std::string& key) {
  return with_engine_errors([&] { return base::procfs::status_field(pid, key); });
}
inline std::vector<std::string> stat_fields(pid_t pid) {
  return with_engine_errors([&] { return base::procfs::stat_fields(pid); });
}

}  // namespace flakelab::engine::procfs
