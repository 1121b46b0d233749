#include "page_copy.h"

#include <sched.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "cpu_colocation.h"

namespace flakelab::engine {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kBatchIovecs = 512;                  // below IOV_MAX (1024)
constexpr size_t kParallelFrom = size_t{32} << 20;    // smaller copies stay on one thread
constexpr int kMaxThreads = 4;

// Copies segments [first, last) with as few syscalls as possible; records per
// segment how much arrived.
void copy_range(pid_t pid, uint8_t* buffer, const std::vector<PageSegment>& segs, size_t first, size_t last,
                CopyDirection dir, std::vector<size_t>& done) {
  std::vector<iovec> local, remote;
  for (size_t b = first; b < last; b += kBatchIovecs) {
    size_t e = std::min(last, b + kBatchIovecs);
    local.clear();
    remote.clear();
    for (size_t i = b; i < e; ++i) {
      local.push_back({buffer + segs[i].local_offset, segs[i].len});
      remote.push_back({reinterpret_cast<void*>(segs[i].remote), segs[i].len});
    }
    ssize_t n = dir == CopyDirection::kFromProcess
                    ? process_vm_readv(pid, local.data(), local.size(), remote.data(), remote.size(), 0)
                    : process_vm_writev(pid, local.data(), local.size(), remote.data(), remote.size(), 0);
    size_t got = n < 0 ? 0 : static_cast<size_t>(n);
    // The kernel stops at the first inaccessible page: everything before it arrived.
    for (size_t i = b; i < e; ++i) {
      size_t take = std::min(got, segs[i].len);
      done[i] = take;
      got -= take;
    }
    // Retry what follows a short segment: a later one may still be accessible.
    for (size_t i = b; i < e; ++i) {
      if (done[i] == segs[i].len) continue;
      if (i + 1 < e) copy_range(pid, buffer, segs, i + 1, e, dir, done);
      break;
    }
  }
}

}  // namespace

std::vector<PageSegment> page_segments(const pb::Process& process, size_t max_len) {
  std::vector<PageSegment> out;
  size_t offset = 0;
  for (const auto& run : process.pages()) {
    size_t len = run.nr_pages() * kPage;
    for (size_t off = 0; off < len; off += max_len) {
      size_t piece = std::min(max_len, len - off);
      out.push_back({run.vaddr() + off, piece, offset + off});
    }
    offset += len;
  }
  return out;
}

int copy_threads_for(size_t total_bytes) {
  if (total_bytes < kParallelFrom) return 1;
  cpu_set_t set = caller_affinity();  // not the one CPU a dump or restore pins itself to
  return std::clamp(CPU_COUNT(&set), 1, kMaxThreads);
}

std::vector<size_t> copy_segments(pid_t pid, uint8_t* buffer, const std::vector<PageSegment>& segments,
                                  CopyDirection direction) {
  std::vector<size_t> done(segments.size(), 0);
  size_t total = 0;
  for (const auto& s : segments) total += s.len;
  int threads = copy_threads_for(total);
  if (threads == 1) {
    copy_range(pid, buffer, segments, 0, segments.size(), direction, done);
    return done;
  }
  // Work stealing over groups of segments: uneven fault costs
  // (huge pages, already present pages) balance out.
  constexpr size_t kGroup = 4;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (;;) {
      size_t first = next.fetch_add(kGroup);
      if (first >= segments.size()) return;
      copy_range(pid, buffer, segments, first, std::min(segments.size(), first + kGroup), direction, done);
    }
  };
  std::vector<std::jthread> pool;
  const cpu_set_t spread = caller_affinity();
  for (int i = 1; i < threads; ++i)
    pool.emplace_back([&] {
      sched_setaffinity(0, sizeof(spread), &spread);  // best effort: else it shares our CPU
      worker();
    });
  worker();
  pool.clear();   // joins: every write to `done` has happened
  return done;
}

}  // namespace flakelab::engine
