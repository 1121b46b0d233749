#include "flakelab/compel/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "flakelab/compel/error.h"
#include "flakelab/compel/unique_fd.h"

namespace flakelab::compel::proc {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

std::vector<long> list_numeric_entries(const std::string& path) {
  std::vector<long> out;
  std::unique_ptr<DIR, DirCloser> dir(opendir(path.c_str()));
  if (!dir) return out;
  while (dirent* e = readdir(dir.get())) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0') out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

std::optional<Status> read_status(pid_t pid) {
  std::string text;
  try {
    text = read_file("/proc/" + std::to_string(pid) + "/status");
  } catch (const CompelError&) {
    return std::nullopt;
  }
  Status st;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "Name") st.name = value;
    else if (key == "State" && !value.empty()) st.state = value[0];
    else if (key == "Tgid") st.tgid = static_cast<pid_t>(std::atol(value.c_str()));
    else if (key == "TracerPid") st.tracer_pid = static_cast<pid_t>(std::atol(value.c_str()));
    else if (key == "Kthread") st.kernel_thread = value == "1";
  }
  // Older kernels have no Kthread line: kernel threads have no memory map.
  if (!st.kernel_thread && st.state != 'Z' && st.state != 'X' &&
      text.find("VmSize:") == std::string::npos && pid != 1) {
    st.kernel_thread = true;
  }
  return st;
}

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> tids;
  for (long v : list_numeric_entries("/proc/" + std::to_string(pid) + "/task"))
    tids.push_back(static_cast<pid_t>(v));
  return tids;
}

std::vector<int> list_fds(pid_t pid) {
  std::vector<int> fds;
  for (long v : list_numeric_entries("/proc/" + std::to_string(pid) + "/fd"))
    fds.push_back(static_cast<int>(v));
  return fds;
}

}  // namespace flakelab::compel::proc
