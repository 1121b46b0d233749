#include "flakelab/scenarios/loopback.h"

#include <fmt/format.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>

#include "flakelab/base/unique_fd.h"

namespace flakelab::scenarios {

void bring_loopback_up() {
  base::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) throw std::runtime_error(fmt::format("socket(AF_INET) to bring lo up: {}", strerror(errno)));
  ifreq lo{};
  strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &lo) != 0)
    throw std::runtime_error(fmt::format("ioctl(SIOCGIFFLAGS, lo): {}", strerror(errno)));
  if (lo.ifr_flags & IFF_UP) return;
  lo.ifr_flags |= IFF_UP;
  if (ioctl(sock.get(), SIOCSIFFLAGS, &lo) != 0)
    throw std::runtime_error(fmt::format("ioctl(SIOCSIFFLAGS, lo up): {}", strerror(errno)));
}

}  // namespace flakelab::scenarios
