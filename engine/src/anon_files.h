// Files on anonymous inodes whose whole state lives in the kernel object:
// eventfd (counter), epoll (watch list), timerfd (clock, time left, interval,
// unread ticks) and signalfd (mask). Dump reads them from /proc/PID/fdinfo
// without consuming anything; restore creates them in the restorer (the new
// process inherits them like every other file) and adds epoll watches inside
// the target once all of its fds are in place.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "flakelab/compel/unique_fd.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {

// FILE_EVENTFD/EPOLL/TIMERFD/SIGNALFD for their /proc/PID/fd link
// ("anon_inode:[eventfd]"...), FILE_UNKNOWN for anything else.
pb::FileKind anon_file_kind(const std::string& link);
bool is_anon_file_kind(pb::FileKind kind);

// Fills `f` (kind, flags and the kind's record) from /proc/PID/fdinfo/FD.
// Returns "" or why this variant is not supported (nothing is touched either
// way). With `frozen` (the process is seized) a timerfd whose interval expired
// is brought up to date first with timerfd_gettime() on a pidfd_getfd() copy:
// it forwards the timer and adds the missed expirations to its ticks, which
// fdinfo alone does not show; nothing is read, so no tick is consumed.
std::string describe_anon_file(pid_t pid, int fd, pb::FileKind kind, bool frozen, pb::File* f);

// The restorer's copy of an anonymous-inode file, at an fd >= `min_fd`, with
// O_CLOEXEC (dup3 in the target sets the saved FD_CLOEXEC). Throws EngineError.
compel::UniqueFd create_anon_file(const pb::Process& p, const pb::File& f, int min_fd);

// What restoring epoll watches needs from the target: a remote syscall that
// throws on failure, and room in its memory for the syscall's arguments.
struct TargetCalls {
  std::function<long(const std::string& what, long nr, long a1, long a2, long a3, long a4)> call;
  std::function<uint64_t(const void* data, size_t size)> put;
  std::function<void()> reset;  // everything put so far may be overwritten
};

// epoll_ctl(EPOLL_CTL_ADD) for every saved watch, issued by the target itself
// (a signalfd's readiness is tied to the sighand of the task that adds the
// watch) with the target's fd numbers (the watch is keyed by file and number).
// Call once every fd is in place.
void restore_epoll_watches(const pb::Process& p, const TargetCalls& target);

}  // namespace flakelab::engine
