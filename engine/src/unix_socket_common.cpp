#include "unix_socket_common.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "flakelab/engine/error.h"

namespace flakelab::engine::unix_detail {

std::string ino_text(uint64_t ino) { return "socket:[" + std::to_string(ino) + "]"; }

const char* type_text(uint32_t type) {
  return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "?";
}

int get_int_opt(int fd, int opt, const std::string& what) {
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) throw_errno(what);
  return v;
}

sockaddr_un make_addr(const std::string& name, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // validate_unix_sockets() keeps names within sun_path (a path also needs its NUL).
  std::memcpy(a.sun_path, name.data(), std::min(name.size(), sizeof(a.sun_path)));
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '\0' ? 0 : 1));
  return a;
}

namespace {

bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

}  // namespace

std::string socket_holder(uint64_t ino) {
  const std::string link = ino_text(ino);
  DIR* proc = opendir("/proc");
  if (!proc) return "";
  std::string found;
  while (dirent* e = readdir(proc)) {
    if (!all_digits(e->d_name)) continue;
    std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = readdir(fds)) {
      if (!all_digits(f->d_name)) continue;
      char buf[64];
      ssize_t n = readlinkat(dirfd(fds), f->d_name, buf, sizeof(buf));
      if (n == static_cast<ssize_t>(link.size()) && link.compare(0, link.size(), buf, static_cast<size_t>(n)) == 0) {
        found = std::string("pid ") + e->d_name + " fd " + f->d_name;
        break;
      }
    }
    closedir(fds);
    if (!found.empty()) break;
  }
  closedir(proc);
  return found;
}

}  // namespace flakelab::engine::unix_detail
