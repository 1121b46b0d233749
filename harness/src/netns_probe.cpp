#include "netns_probe.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "flakelab/base/os_error.h"
#include "flakelab/base/unix_diag.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {

void NetnsProbe::reopen() {
  ioctl_socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ioctl_socket_) throw os_error("socket(AF_UNIX) to read the loopback flags");
  struct stat st {};
  if (::fstat(ioctl_socket_.get(), &st) != 0) throw os_error("fstat of the host's probe socket");
  ioctl_socket_ino_ = st.st_ino;
  try {
    sock_diag_ = base::open_sock_diag();
  } catch (const base::OsError& e) {
    throw HarnessError(e.what());
  }
  // IP sockets are counted from these per-namespace counters: a sock_diag dump of TCP
  // walks the kernel's global hash table (~0.5 ms a trial here).
  for (size_t i = 0; i < sockstat_.size(); ++i) {
    const char* path = i == 0 ? "/proc/net/sockstat" : "/proc/net/sockstat6";
    sockstat_[i].reset(::open(path, O_RDONLY | O_CLOEXEC));
    if (!sockstat_[i]) throw os_error(fmt::format("open {} in the trial host", path));
  }
}

bool NetnsProbe::loopback_up() const {
  ifreq lo{};
  ::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(ioctl_socket_.get(), SIOCGIFFLAGS, &lo) != 0) throw os_error("ioctl(SIOCGIFFLAGS) lo");
  return (lo.ifr_flags & IFF_UP) != 0;
}

bool NetnsProbe::unix_sockets_left() const {
  try {
    for (uint32_t ino : base::unix_socket_inodes(sock_diag_.get()))
      if (ino != ioctl_socket_ino_) return true;
    return false;
  } catch (const base::OsError& e) {
    throw HarnessError(e.what());
  }
}

// Lines like "TCP: inuse 0 orphan 0 tw 0 alloc 1 mem 0": inuse and tw count this
// namespace's sockets (orphan, alloc and mem are machine-wide).
bool NetnsProbe::ip_sockets_in_use() const {
  for (const base::UniqueFd& file : sockstat_) {
    char text[2048];
    const ssize_t n = ::pread(file.get(), text, sizeof text - 1, 0);
    if (n < 0) throw os_error("read /proc/net/sockstat in the trial host");
    text[n] = '\0';
    for (char* line = text; *line != '\0';) {
      char* end = ::strchr(line, '\n');
      if (end != nullptr) *end = '\0';
      if (::strncmp(line, "FRAG", 4) != 0 && ::strncmp(line, "sockets:", 8) != 0) {
        for (const char* key : {" inuse ", " tw "}) {
          const char* at = ::strstr(line, key);
          if (at != nullptr && std::strtol(at + ::strlen(key), nullptr, 10) != 0) return true;
        }
      }
      if (end == nullptr) break;
      line = end + 1;
    }
  }
  return false;
}

}  // namespace flakelab::harness
