// Self-checking victims for files whose contents go into the image and for named
// pipes: forked children of the caller that set up state, sleep in pause(), and on
// SIGUSR1 verify everything and exit with kVictimOk (victims.h) or a bitmask of
// what was damaged. Each throws std::runtime_error if it cannot start.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace flakelab::victims {

// The unlinked-file victim (in `dir`, which it leaves empty): "unlinked", 0640,
// holding kUnlinkedHead bytes of a pattern, a hole, and kUnlinkedTail bytes at
// kUnlinkedTailOffset, open read-write at offset 7 (and a dup()), O_WRONLY|O_APPEND
// and read-only at another offset, mapped shared (a write through the mapping
// changed the file), shared read-only from the read-only fd (never writable) and
// private (a copy-on-write change), then unlinked; and
// "mapped-only", unlinked with no fd, only a shared mapping. On SIGUSR1 it checks
// that nothing reappeared in `dir`, the links, contents, size, mode, offsets, dup
// sharing, flags, that the mappings and fds are one file, and that further writes
// land in it.
constexpr size_t kUnlinkedHead = 3000;
constexpr size_t kUnlinkedTailOffset = (1 << 20) + 100;
constexpr size_t kUnlinkedTail = 4096;
constexpr int kUnlinkedBadVisible = 1;
constexpr int kUnlinkedBadContent = 2;
constexpr int kUnlinkedBadOffset = 4;
constexpr int kUnlinkedBadFlags = 8;
constexpr int kUnlinkedBadMode = 16;
constexpr int kUnlinkedBadMapping = 32;
constexpr int kUnlinkedBadWrites = 64;
pid_t start_unlinked_victim(const std::string& dir);

// The FIFO victim (FIFOs in `dir`): fifo1 with a read end (O_NONBLOCK) and a write
// end, capacity 128 KiB, holding kFifoBytes; fifo2 open O_RDWR|O_NONBLOCK holding
// "rdwr-data"; fifo3, a read end whose writers are gone, holding "orphan-bytes";
// fifo4, a write end whose readers are gone, holding "stranded"; an anonymous pipe
// whose write end was closed, holding "one-ended"; and one whose read end was
// closed, holding "lost reader". SIGPIPE is ignored. On SIGUSR1 it checks flags,
// capacity, the bytes and their order, EOF/EPIPE where an end is gone, and that
// every FIFO still carries new data.
constexpr size_t kFifoBytes = 70000;
constexpr int kFifoBadData = 1;
constexpr int kFifoBadFlags = 2;
constexpr int kFifoBadCapacity = 4;
constexpr int kFifoBadUse = 8;
constexpr int kFifoBadOneEnded = 16;
constexpr int kFifoBadPath = 32;
pid_t start_fifo_victim(const std::string& dir);

// The shared-memory victim: a 16-page MAP_SHARED|MAP_ANONYMOUS region with pages
// 0, 3 and 15 written, mapped again whole (mremap old_size 0) and from page 4 on;
// a 256 MiB shared anonymous region with kShmemSparseTouched pages written;
// memfd "flk-memfd" (10 pages, 3 written, F_SEAL_SHRINK|F_SEAL_GROW, fd offset
// 5000) mapped shared twice (whole and from page 2); memfd "flk-private" without
// sealing, mapped private with a copy-on-write change; memfd "flk-future" mapped
// shared writable, then sealed F_SEAL_FUTURE_WRITE|F_SEAL_SEAL; memfd
// "flk-sealed-write" sealed F_SEAL_WRITE and then only mapped read-only (its fd
// closed). On SIGUSR1 it checks contents, untouched pages, that every alias is
// one object (writes seen through the others and the fd), names, sizes, offset,
// seals and what they forbid.
constexpr int kShmemSparseTouched = 3;
constexpr int kShmemBadAnon = 1;
constexpr int kShmemBadAnonShared = 2;
constexpr int kShmemBadSparse = 4;
constexpr int kShmemBadMemfd = 8;
constexpr int kShmemBadMemfdShared = 16;
constexpr int kShmemBadSeals = 32;
constexpr int kShmemBadPrivate = 64;
pid_t start_shmem_victim();

}  // namespace flakelab::victims
