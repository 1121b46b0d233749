// Small readers for /proc/PID files that compel needs.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace flakelab::compel::proc {

struct Status {
  char state = '?';      // R S D T t Z X I ...
  pid_t tgid = 0;
  pid_t tracer_pid = 0;
  bool kernel_thread = false;
  std::string name;
};

// Reads /proc/PID/status; std::nullopt if the process does not exist.
std::optional<Status> read_status(pid_t pid);
// Thread ids from /proc/PID/task (empty if the process is gone).
std::vector<pid_t> list_threads(pid_t pid);
// Open fd numbers from /proc/PID/fd, sorted.
std::vector<int> list_fds(pid_t pid);
// Whole file as a string; throws CompelError naming the path.
std::string read_file(const std::string& path);

}  // namespace flakelab::compel::proc
