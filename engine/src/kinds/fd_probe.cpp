#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "../proc_files.h"
#include "flakelab/engine/error.h"
#include "kind.h"

namespace flakelab::engine {

std::string FdProbe::where() const {
  return "pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (" + link + ")";
}

base::Fdinfo read_fdinfo(pid_t pid, int fd) {
  try {
    return base::Fdinfo::read(pid, fd);
  } catch (const std::system_error& e) {
    throw EngineError(e.what());  // names the path and the errno text
  }
}

std::optional<FdProbe> probe_fd(pid_t pid, int fd) {
  std::string path = base::procfs::fd_path(pid, fd);
  FdProbe probe;
  probe.pid = pid;
  probe.fd = fd;
  try {
    probe.link = procfs::read_link(path);
  } catch (const EngineError&) {
    return std::nullopt;  // closed meanwhile
  }
  if (::stat(path.c_str(), &probe.st) != 0) return std::nullopt;
  try {
    probe.info = base::Fdinfo::read(pid, fd);
  } catch (const std::system_error& e) {
    if (e.code().value() == ENOENT) return std::nullopt;
    throw EngineError(e.what());
  }
  return probe;
}

}  // namespace flakelab::engine
