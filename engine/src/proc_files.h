// Readers for the /proc/PID files the engine uses. Errors name the path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flakelab::engine::procfs {

// Whole file; throws EngineError naming the path and errno.
std::string read_file(const std::string& path);
std::string read_link(const std::string& path);

struct MapEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t prot = 0;       // PROT_*
  bool shared = false;
  uint64_t pgoff = 0;
  uint64_t inode = 0;
  std::string path;        // may be empty, "[heap]", "/x (deleted)"...
  bool growsdown = false;  // VmFlags "gd"
  bool noreserve = false;  // VmFlags "nr"
  bool maywrite = false;   // VmFlags "mw"
  std::string describe() const;   // "7f00..-7f00.. rw-p /path"
};

// In address order. With `vm_flags`, from /proc/PID/smaps (fills growsdown,
// noreserve, maywrite; slower: the kernel walks page tables for the statistics),
// else from /proc/PID/maps.
std::vector<MapEntry> read_maps(pid_t pid, bool vm_flags = true);

// The value after "Key:" in /proc/PID/status, or "" if absent.
std::string status_field(pid_t pid, const std::string& key);

// Whitespace-separated words of `s` (views into it).
std::vector<std::string_view> split_words(std::string_view s);

// Fields of /proc/PID/stat after the command name; index 0 is field 3 (state).
std::vector<std::string> stat_fields(pid_t pid);

}  // namespace flakelab::engine::procfs
