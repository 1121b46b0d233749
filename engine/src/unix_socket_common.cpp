#include "unix_socket_common.h"

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "fifos.h"
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

std::string socket_holder(uint64_t ino) { return first_holder(ino_text(ino)); }

}  // namespace flakelab::engine::unix_detail
