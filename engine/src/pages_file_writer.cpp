#include "pages_file_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "crc32c.h"
#include "flakelab/engine/error.h"
#include "image_dir.h"
#include "image_frame.h"
#include "mapped_file.h"
#include "sigbus_guard.h"
#include "whole_file.h"

namespace flakelab::engine {
namespace {

using detail::kPageAlignedHeaderSize;
using detail::kPagesMagic;

// The previous pages.img, open for writing and exclusively flocked, if it may be
// rewritten in place (PagesFileWriter), with its size in `size`; else -1.
int take_for_rewrite(const std::string& path, uint64_t& size) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;  // never open a device or a FIFO
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

PagesFileWriter::PagesFileWriter(const std::string& dir)
    : dir_(dir), tmp_(dir + "/" + kPagesFile + ".tmp"), path_(dir + "/" + kPagesFile) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  fd_ = take_for_rewrite(path_, size_);
  if (fd_ >= 0) {
    try {
      remove_stale_process_file(dir_);
      if (::rename(path_.c_str(), tmp_.c_str()) != 0) throw_errno("rename " + path_ + " to " + tmp_);
      reused_ = true;
      return;
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("open " + tmp_);
}

PagesFileWriter::~PagesFileWriter() {
  map_.reset();
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_.c_str());
  drop_replaced();
}

void PagesFileWriter::drop_replaced() {
  if (replaced_ >= 0) ::close(replaced_);
  replaced_ = -1;
}

void PagesFileWriter::put(uint64_t offset, std::span<const uint8_t> bytes) {
  put(offset, bytes, crc32c(bytes.data(), bytes.size()));
}

void PagesFileWriter::put(uint64_t offset, std::span<const uint8_t> bytes, uint32_t crc) {
  uint64_t at = kPageAlignedHeaderSize + offset;
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + tmp_);
    done += static_cast<size_t>(n);
  }
  crcs_.add(offset, bytes.size(), crc);
}

std::shared_ptr<uint8_t> PagesFileWriter::window(uint64_t offset, size_t len) {
  if (!reused_ || len == 0) return nullptr;
  const uint64_t at = kPageAlignedHeaderSize + offset;
  if (at % 4096 != 0) throw EngineError("pages file " + tmp_ + ": window at unaligned offset " + std::to_string(offset));
  {
    std::lock_guard lock(size_mutex_);
    if (at + len > size_) {
      if (::ftruncate(fd_, static_cast<off_t>(at + len)) != 0) throw_errno("ftruncate " + tmp_);
      size_ = at + len;
    }
  }
  // Populated now: one walk over existing pages instead of a fault for each.
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(at));
  if (p == MAP_FAILED) throw_errno("mmap " + tmp_);
  return {static_cast<uint8_t*>(p), [len](uint8_t* q) { ::munmap(q, len); }};
}

void PagesFileWriter::placed(uint64_t offset, const uint8_t* data, size_t len) {
  uint32_t crc = 0;
  if (!mapped_crc32c(data, len, &crc)) throw EngineError("pages file " + tmp_ + ": cut short while it was written");
  crcs_.add(offset, len, crc);
}

PageBytes PagesFileWriter::view(uint64_t offset, uint64_t n) {
  if (n == 0) return {};
  if (!map_) {
    struct stat st;
    if (fstat(fd_, &st) != 0) throw_errno("fstat " + tmp_);
    map_ = std::make_shared<MappedFile>(fd_, static_cast<size_t>(st.st_size), tmp_);
  }
  if (kPageAlignedHeaderSize + offset + n > map_->size())
    throw EngineError("pages file " + tmp_ + ": bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                      " were never written");
  return PageBytes::view(map_, map_->data() + kPageAlignedHeaderSize + offset, n);
}

void PagesFileWriter::finish(uint64_t payload_len) {
  // The pieces must tile the payload: the file is then exactly header + payload.
  std::string why;
  uint32_t crc = crcs_.whole(payload_len, &why);
  if (!why.empty()) throw EngineError("pages file " + tmp_ + ": " + why);
  // A rewritten file may have been longer.
  if (reused_ && ::ftruncate(fd_, static_cast<off_t>(kPageAlignedHeaderSize + payload_len)) != 0)
    throw_errno("ftruncate " + tmp_);
  auto head = detail::padded_header(kPagesMagic, payload_len, crc, kPageAlignedFormatVersion);
  for (size_t done = 0; done < head.size();) {
    ssize_t n = ::pwrite(fd_, head.data() + done, head.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + tmp_);
    done += static_cast<size_t>(n);
  }
  // From here on a reader like any other: a view() of the file may outlive us, and
  // a later dump into this directory must not rewrite what it shows.
  ::flock(fd_, LOCK_SH);
  remove_stale_process_file(dir_);
  replaced_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);  // none: -1, nothing to keep
  struct stat st;
  if (replaced_ >= 0 && fstat(replaced_, &st) == 0) replaced_size_ = static_cast<uint64_t>(st.st_size);
  rename_into_place(tmp_, path_);
  finished_ = true;
}

}  // namespace flakelab::engine
