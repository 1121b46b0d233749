// Bulk copies between an image's page buffer and another process's memory with
// process_vm_readv/writev. Large copies are cut into chunks and spread over up to
// four threads (never more than the CPUs the caller may run on): faulting in and
// zeroing the target's pages and the copy itself scale with cores, and a pinned
// caller with one CPU gets one thread, as before.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "flakelab/compel/remote_ptr.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {

// One contiguous piece: `len` bytes at `remote` in the other process, at
// `local_offset` in the buffer (typed apart, so the two cannot be swapped).
struct PageSegment {
  compel::RemoteAddr remote;
  size_t len = 0;
  size_t local_offset = 0;
};

// The image's page runs as segments in buffer order, none longer than `max_len`
// (a multiple of the page size; 2 MiB is a good unit of work).
inline constexpr size_t kCopySegment = size_t{2} << 20;
std::vector<PageSegment> page_segments(const pb::Process& process, size_t max_len = kCopySegment);

enum class CopyDirection { kFromProcess, kToProcess };

// Called on the copying thread just before segment `index` is copied, while
// nothing of it is in the target yet (for checksumming the source as it is read).
using BeforeSegment = std::function<void(size_t index)>;

// Copies every segment; returns, per segment, how many of its bytes were copied
// (process_vm_* stop at the first page they cannot access; the caller decides
// what a short segment means). Never throws for partial copies.
std::vector<size_t> copy_segments(pid_t pid, uint8_t* buffer, const std::vector<PageSegment>& segments,
                                  CopyDirection direction, const BeforeSegment& before = {});

// Fills the segments of another process's anonymous mappings from `buffer` with
// UFFDIO_COPY through `uffd`, a userfaultfd of that process with those mappings
// registered (missing mode): the kernel allocates each page and copies into it,
// where a fault (process_vm_writev) would zero it first. Threads and result as
// copy_segments().
std::vector<size_t> fill_segments_uffd(int uffd, const uint8_t* buffer, const std::vector<PageSegment>& segments,
                                       const BeforeSegment& before = {});

// Reads the segments out of `pid` without a buffer for all of them: each copying
// thread reads a group of consecutive segments (at most kCopySegment bytes) into
// a buffer of its own, lets `complete(segment, from, dst)` fill what
// process_vm_readv could not read of a segment (its bytes [from, len) into dst),
// checksums it (CRC32C, while it is in cache) and hands it to `sink(offset,
// bytes, crc)` (offset in buffer order). Groups arrive in any order, one thread
// at a time in the sink. Threads as copy_segments(). The first exception from a
// callback stops every thread and is rethrown.
//
// With `direct`, a group may instead go straight to where it belongs: direct.at(offset,
// len) returns writable memory for it (a window of a file, released when the
// pointer is) or null for "use the buffer and the sink"; once filled,
// direct.placed(offset, data, len) is told, while the window is still there. Threads
// fill their windows side by side.
using CompleteSegment = std::function<void(const PageSegment& segment, size_t from, uint8_t* dst)>;
using PageSink = std::function<void(size_t offset, std::span<const uint8_t> bytes, uint32_t crc)>;
struct DirectPages {
  std::function<std::shared_ptr<uint8_t>(size_t offset, size_t len)> at;
  std::function<void(size_t offset, const uint8_t* data, size_t len)> placed;
};
void read_segments_through(pid_t pid, const std::vector<PageSegment>& segments, const CompleteSegment& complete,
                           const PageSink& sink, const DirectPages& direct = {});

// Threads copy_segments() would use for `total_bytes` (for tests and logs).
int copy_threads_for(size_t total_bytes);

}  // namespace flakelab::engine
