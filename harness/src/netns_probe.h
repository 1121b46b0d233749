// Whether a trial host's network namespace is still as a new one: no socket in it
// (unix; IP sockets in use or in TIME_WAIT) and the loopback device down.
#pragma once

#include <sys/types.h>

#include <array>

#include "flakelab/base/unique_fd.h"

namespace flakelab::harness {

// Its descriptors stay open across trials (they belong to the namespace they were
// opened in: reopen() after moving to a new one); it costs ~20 us a trial.
// Throws HarnessError.
class NetnsProbe {
 public:
  NetnsProbe() { reopen(); }

  void reopen();
  bool pristine() const { return !loopback_up() && !unix_sockets_left() && !ip_sockets_in_use(); }

 private:
  bool loopback_up() const;
  // Any unix socket but the probe's own.
  bool unix_sockets_left() const;
  bool ip_sockets_in_use() const;

  base::UniqueFd ioctl_socket_;
  ino_t ioctl_socket_ino_ = 0;
  base::UniqueFd sock_diag_;
  std::array<base::UniqueFd, 2> sockstat_;
};

}  // namespace flakelab::harness
