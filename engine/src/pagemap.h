// Which pages of a process hold data of its own, via the PAGEMAP_SCAN ioctl on
// /proc/PID/pagemap (Linux >= 6.7). Only page tables that exist are walked, so a
// 16 TiB sanitizer shadow with a few touched pages costs what those pages cost.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "flakelab/base/unique_fd.h"

namespace flakelab::engine {

struct PageRange {
  uint64_t start;
  uint64_t end;
};

class Pagemap {
 public:
  explicit Pagemap(pid_t pid);
  // Present or swapped pages in [start, end) that are anonymous (private copies),
  // skipping file pages (still equal to the file) and the shared zero page.
  std::vector<PageRange> private_pages(uint64_t start, uint64_t end);

 private:
  pid_t pid_;
  base::UniqueFd fd_;
};

}  // namespace flakelab::engine
