// Unix socket addresses and messages with SCM_RIGHTS, for the victims that
// set up sockets (socket_victims.cpp, tree_victims.cpp).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

namespace flakelab::victims {

// `name` as sun_path bytes: an abstract name starts with NUL and may hold more.
sockaddr_un addr_of(const std::string& name, socklen_t& len);
// The name in an address recvmsg/getsockname returned ("" if unnamed).
std::string from_addr(const sockaddr_un& a, socklen_t len);

// sendmsg of `data` with `fds` as SCM_RIGHTS, to `to` if given; true if all was sent.
bool send_with(int via, const std::string& data, const std::vector<int>& fds, const std::string* to = nullptr);

// What recv_with() received (up to 16 files).
struct Got {
  bool ok = false;
  std::string data;
  std::string from;
  std::vector<int> fds;
  bool truncated = false;
};

Got recv_with(int via, size_t max = 100000, int flags = MSG_DONTWAIT);

}  // namespace flakelab::victims
