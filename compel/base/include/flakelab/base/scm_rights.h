// Passing file descriptors over unix sockets (SCM_RIGHTS): building the control data of
// a message to send, and owning the descriptors a received message carried, so that
// none leaks whichever way the caller leaves.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <span>
#include <vector>

#include "flakelab/base/unique_fd.h"

namespace flakelab::base {

// Control data carrying `fds` as one SCM_RIGHTS message.
class RightsToSend {
 public:
  explicit RightsToSend(std::span<const int> fds);
  // Points `m` at the control data; leaves `m` without control data if there are no fds.
  void attach(msghdr& m);

 private:
  std::vector<int> fds_;
  std::vector<cmsghdr> control_;  // cmsghdr elements keep the buffer aligned for CMSG_*
};

// sendmsg of `size` bytes with `fds` attached (none if empty), retried on EINTR.
// Returns what sendmsg returned (bytes sent, or -1 with errno).
ssize_t send_with_rights(int socket, const void* data, size_t size, std::span<const int> fds, int flags);

struct ReceivedRights {
  std::vector<UniqueFd> fds;  // in the order they were sent
  // MSG_CTRUNC: the control buffer was too small and the kernel closed the
  // descriptors that did not fit; the message is incomplete.
  bool control_truncated = false;
};

// The header of one recvmsg: the bytes into `data`, the ancillary data (SCM_RIGHTS)
// into `control` (aligned for cmsghdr), and the sender's address into `from` if
// given. recvmsg updates the header: make one per call. Not copyable: the header
// points at its own iovec.
class ReceiveHeader {
 public:
  ReceiveHeader(void* data, size_t size, void* control, size_t control_size, sockaddr_un* from = nullptr);
  ReceiveHeader(const ReceiveHeader&) = delete;
  ReceiveHeader& operator=(const ReceiveHeader&) = delete;
  msghdr* get() { return &header_; }
  const msghdr& header() const { return header_; }

 private:
  iovec iov_;
  msghdr header_{};
};

// Takes ownership of every descriptor recvmsg put into `m`'s control data.
ReceivedRights take_rights(const msghdr& m);

}  // namespace flakelab::base
