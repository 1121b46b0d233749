#include "page_copy.h"

#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <mutex>
#include <optional>
#include <new>
#include <thread>

#include "cpu_colocation.h"
#include "flakelab/compel/remote_memory.h"
#include "crc32c.h"

namespace flakelab::engine {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kBatchIovecs = 512;                  // below IOV_MAX (1024)
constexpr size_t kParallelFrom = size_t{32} << 20;    // smaller copies stay on one thread
constexpr int kMaxThreads = 4;

// Copies segments [first, last) with as few syscalls as possible; records per
// segment how much arrived.
void copy_range(pid_t pid, uint8_t* buffer, const std::vector<PageSegment>& segs, size_t first, size_t last,
                CopyDirection dir, std::vector<size_t>& done, const BeforeSegment& before = {}) {
  std::vector<iovec> local, remote;
  for (size_t b = first; b < last; b += kBatchIovecs) {
    size_t e = std::min(last, b + kBatchIovecs);
    local.clear();
    remote.clear();
    for (size_t i = b; i < e; ++i) {
      if (before) before(i);
      local.push_back({buffer + segs[i].local_offset, segs[i].len});
      remote.push_back(compel::remote_iovec(segs[i].remote, segs[i].len));
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

// Fills segments [first, last) with UFFDIO_COPY; records how much arrived. The
// kernel may stop early (a signal pending, EAGAIN): go on from there.
void fill_range_uffd(int uffd, const uint8_t* buffer, const std::vector<PageSegment>& segs, size_t first, size_t last,
                     std::vector<size_t>& done, const BeforeSegment& before) {
  for (size_t i = first; i < last; ++i) {
    if (before) before(i);
    for (int stalls = 0; done[i] < segs[i].len;) {
      uffdio_copy c{};
      c.dst = (segs[i].remote + done[i]).as_int();
      c.src = reinterpret_cast<uint64_t>(buffer + segs[i].local_offset + done[i]);
      c.len = segs[i].len - done[i];
      int r = ::ioctl(uffd, UFFDIO_COPY, &c);
      int err = errno;
      if (c.copy > 0) {
        done[i] += static_cast<size_t>(c.copy);
        stalls = 0;
        continue;
      }
      if (r != 0 && (err == EAGAIN || err == EINTR) && ++stalls < 100) continue;
      break;  // short: the caller decides
    }
  }
}

// Runs `work` on `threads` threads (this one included); the others may run on
// every CPU the caller may use, not only the one a dump or restore pins itself to.
void on_threads(int threads, const std::function<void()>& work) {
  std::vector<std::jthread> pool;
  const cpu_set_t spread = caller_affinity();
  for (int i = 1; i < threads; ++i)
    pool.emplace_back([&] {
      sched_setaffinity(0, sizeof(spread), &spread);  // best effort: else it shares our CPU
      work();
    });
  work();
}  // joins

// A copying thread's own buffer: for a full group one huge page where the kernel
// gives one, so it costs one fault, and it stays in that CPU's cache between
// groups; for a small process just its pages (zeroing a huge page would cost
// more than its whole copy).
class Bounce {
 public:
  explicit Bounce(size_t size) : size_(std::max(size, kPage)) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (size_ >= kCopySegment) ::madvise(p, size_, MADV_HUGEPAGE);  // a hint
    data_ = static_cast<uint8_t*>(p);
  }
  ~Bounce() { ::munmap(data_, size_); }
  Bounce(const Bounce&) = delete;
  Bounce& operator=(const Bounce&) = delete;
  uint8_t* data() { return data_; }

 private:
  uint8_t* data_;
  size_t size_;
};

}  // namespace

std::vector<PageSegment> page_segments(const pb::Process& process, size_t max_len) {
  std::vector<PageSegment> out;
  size_t offset = 0;
  for (const auto& run : process.pages()) {
    size_t len = run.nr_pages() * kPage;
    for (size_t off = 0; off < len; off += max_len) {
      size_t piece = std::min(max_len, len - off);
      out.push_back({compel::RemoteAddr(run.vaddr() + off), piece, offset + off});
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
                                  CopyDirection direction, const BeforeSegment& before) {
  std::vector<size_t> done(segments.size(), 0);
  size_t total = 0;
  for (const auto& s : segments) total += s.len;
  int threads = copy_threads_for(total);
  if (threads == 1) {
    copy_range(pid, buffer, segments, 0, segments.size(), direction, done, before);
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
      copy_range(pid, buffer, segments, first, std::min(segments.size(), first + kGroup), direction, done, before);
    }
  };
  on_threads(threads, worker);  // joins: every write to `done` has happened
  return done;
}

std::vector<size_t> fill_segments_uffd(int uffd, const uint8_t* buffer, const std::vector<PageSegment>& segments,
                                       const BeforeSegment& before) {
  std::vector<size_t> done(segments.size(), 0);
  size_t total = 0;
  for (const auto& s : segments) total += s.len;
  constexpr size_t kGroup = 4;
  std::atomic<size_t> next{0};
  on_threads(copy_threads_for(total), [&] {
    for (;;) {
      size_t first = next.fetch_add(kGroup);
      if (first >= segments.size()) return;
      fill_range_uffd(uffd, buffer, segments, first, std::min(segments.size(), first + kGroup), done, before);
    }
  });
  return done;
}

void read_segments_through(pid_t pid, const std::vector<PageSegment>& segments, const CompleteSegment& complete,
                           const PageSink& sink, const DirectPages& direct) {
  // Groups of consecutive segments, each at most kCopySegment bytes: [first, last).
  std::vector<std::pair<size_t, size_t>> groups;
  size_t total = 0, biggest = 0;
  for (size_t i = 0; i < segments.size();) {
    size_t first = i, len = 0;
    while (i < segments.size() && (i == first || len + segments[i].len <= kCopySegment)) len += segments[i++].len;
    groups.emplace_back(first, i);
    total += len;
    biggest = std::max(biggest, len);
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  // One thread in the sink at a time: a file write holds the file's lock for the
  // whole copy anyway, and a thread that waits for that lock spins (13% of a 256
  // MiB dump's CPU time, for nothing) where it sleeps on ours.
  std::mutex sink_mutex;
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto worker = [&] {
    try {
      std::optional<Bounce> bounce;  // only for groups that have no window to go to
      std::vector<PageSegment> local;
      std::vector<size_t> done;
      for (;;) {
        size_t g = next.fetch_add(1);
        if (g >= groups.size() || stop.load()) return;
        auto [first, last] = groups[g];
        const size_t base = segments[first].local_offset;
        local.assign(segments.begin() + static_cast<std::ptrdiff_t>(first),
                     segments.begin() + static_cast<std::ptrdiff_t>(last));
        for (auto& s : local) s.local_offset -= base;
        size_t len = local.back().local_offset + local.back().len;
        std::shared_ptr<uint8_t> window = direct.at ? direct.at(base, len) : nullptr;
        if (!window && !bounce) bounce.emplace(biggest);
        uint8_t* dst = window ? window.get() : bounce->data();
        done.assign(local.size(), 0);
        copy_range(pid, dst, local, 0, local.size(), CopyDirection::kFromProcess, done);
        for (size_t i = 0; i < local.size(); ++i) {
          if (done[i] != local[i].len) {
            size_t from = done[i] / kPage * kPage;
            complete(segments[first + i], from, dst + local[i].local_offset + from);
          }
        }
        if (window) {
          direct.placed(base, dst, len);
          continue;
        }
        uint32_t crc = crc32c(dst, len);  // while it is in this CPU's cache
        std::lock_guard in_sink(sink_mutex);
        sink(base, {dst, len}, crc);
      }
    } catch (...) {
      stop = true;
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  on_threads(copy_threads_for(total), worker);
  if (failure) std::rethrow_exception(failure);
}

}  // namespace flakelab::engine
