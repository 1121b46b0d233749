#include "pagemap.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

// From <linux/fs.h> of Linux 6.7; Debian bookworm's headers predate it.
constexpr uint64_t kPageIsFile = 1u << 2;
constexpr uint64_t kPageIsPresent = 1u << 3;
constexpr uint64_t kPageIsSwapped = 1u << 4;
constexpr uint64_t kPageIsPfnZero = 1u << 5;

struct page_region {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};

struct pm_scan_arg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};

constexpr unsigned long kPagemapScan = _IOWR('f', 16, pm_scan_arg);

}  // namespace

Pagemap::Pagemap(pid_t pid) : pid_(pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_) throw_errno("open " + path);
}

std::vector<PageRange> Pagemap::private_pages(uint64_t start, uint64_t end) {
  std::vector<PageRange> out;
  std::vector<page_region> vec(1024);
  uint64_t pos = start;
  while (pos < end) {
    pm_scan_arg arg{};
    arg.size = sizeof(arg);
    arg.start = pos;
    arg.end = end;
    arg.vec = reinterpret_cast<uint64_t>(vec.data());
    arg.vec_len = vec.size();
    // match: (PRESENT or SWAPPED) and not FILE and not PFNZERO
    arg.category_inverted = kPageIsFile | kPageIsPfnZero;
    arg.category_mask = kPageIsFile | kPageIsPfnZero;
    arg.category_anyof_mask = kPageIsPresent | kPageIsSwapped;
    arg.return_mask = kPageIsPresent | kPageIsSwapped;
    long n = ::ioctl(fd_.get(), kPagemapScan, &arg);
    if (n < 0) {
      int err = errno;
      throw_errno("PAGEMAP_SCAN pid " + std::to_string(pid_) + (err == ENOTTY ? " (needs Linux >= 6.7)" : ""), err);
    }
    for (long i = 0; i < n; ++i) {
      // When the vector fills inside a huge-page-sized range, walk_end can point
      // back at that range's start (seen on 6.18): the next call reports again
      // what we have. Keep only what lies beyond.
      uint64_t start = vec[i].start;
      if (!out.empty() && start < out.back().end) start = out.back().end;
      if (start >= vec[i].end) continue;
      // Adjacent regions differ only in the present/swapped bit: merge them.
      if (!out.empty() && out.back().end == start)
        out.back().end = vec[i].end;
      else
        out.push_back({start, vec[i].end});
    }
    if (arg.walk_end <= pos) break;
    pos = std::max<uint64_t>(arg.walk_end, out.empty() ? 0 : out.back().end);
  }
  return out;
}

}  // namespace flakelab::engine
