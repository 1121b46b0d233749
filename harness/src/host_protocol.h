// The messages between the harness and a trial host, over their SOCK_SEQPACKET control
// socket (one message a record, descriptors riding along as SCM_RIGHTS).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "flakelab/base/unique_fd.h"
#include "flakelab/harness/placement.h"
#include "flakelab/harness/trial_host.h"

namespace flakelab::harness {

enum class RequestKind : uint32_t { kLaunch = 1, kPidfd = 2 };

// Harness -> host: kLaunch starts a trial (the result pipe's write end rides along);
// kPidfd asks for the running trial's pidfd (only needed to signal it at a timeout).
struct RequestMessage {
  RequestKind kind;
  int64_t index;
  uint64_t seed;
  std::array<int32_t, Placement::kRoles> cpus;  // -1: role not pinned
  // followed by the temp dir path, unterminated
};

inline constexpr size_t kMaxRequestBytes = sizeof(RequestMessage) + 4096;

enum class ReportKind : uint32_t { kPidfd = 1, kEnded = 2, kFailed = 3 };

// Host -> harness: kPidfd (with the trial's pidfd, or none if no trial runs), kEnded,
// or kFailed just before the host exits.
struct TrialHost::ReportMessage {
  ReportKind kind;
  int32_t status;
  uint32_t netns_renewed;
  char failure[244];
};

// Sends `bytes` with `fd` (unless -1) as SCM_RIGHTS. Returns false if the peer is gone.
bool send_message(int socket, const void* bytes, size_t size, int fd);

// Receives one message into `buffer`; `fd` gets a passed descriptor (or stays empty).
// Returns its size, 0 if the peer is gone, -1 with errno on error.
ssize_t receive_message(int socket, void* buffer, size_t size, base::UniqueFd& fd);

}  // namespace flakelab::harness
