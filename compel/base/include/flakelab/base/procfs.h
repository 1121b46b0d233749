// Readers for the /proc/PID files every layer uses: whole files and links, the task and
// fd lists, status and stat fields, the memory map. Errors are base::OsError naming the
// path (and the errno text where there is one).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flakelab::base::procfs {

// Whole file.
std::string read_file(const std::string& path);
// Target of a symlink (e.g. /proc/PID/fd/N).
std::string read_link(const std::string& path);

// Thread ids from /proc/PID/task, sorted (empty if the process is gone).
std::vector<pid_t> list_threads(pid_t pid);
// Open fd numbers from /proc/PID/fd, sorted (empty if the process is gone).
std::vector<int> list_fds(pid_t pid);
// Children of every thread of `pid` (/proc/PID/task/TID/children: a child belongs
// to the thread that forked it), sorted (empty if the process is gone).
std::vector<pid_t> list_children(pid_t pid);
// Every process of our pid namespace, from /proc, sorted.
std::vector<pid_t> list_pids();
// "/proc/PID/fd/FD": the link to an fd's file, which opens and stat()s the file itself.
std::string fd_path(pid_t pid, int fd);

struct Status {
  char state = '?';      // R S D T t Z X I ...
  pid_t tgid = 0;
  pid_t tracer_pid = 0;
  bool kernel_thread = false;
  std::string name;
};

// The fields of /proc/PID/status above; std::nullopt if the process does not exist.
std::optional<Status> read_status(pid_t pid);

// The value after "Key:" in /proc/PID/status, or "" if absent.
std::string status_field(pid_t pid, const std::string& key);

// Fields of /proc/PID/stat after the command name; index 0 is field 3 (state).
std::vector<std::string> stat_fields(pid_t pid);

// Whitespace-separated words of `s` (views into it).
std::vector<std::string_view> split_words(std::string_view s);

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
  std::vector<std::string> vm_flags;  // every VmFlags word ("dc", "wf", "hg"...), smaps only
  std::string describe() const;   // "7f00..-7f00.. rw-p /path"
};

// In address order. With `vm_flags`, from /proc/PID/smaps (fills growsdown,
// noreserve, maywrite; slower: the kernel walks page tables for the statistics),
// else from /proc/PID/maps.
std::vector<MapEntry> read_maps(pid_t pid, bool vm_flags = true);

}  // namespace flakelab::base::procfs
