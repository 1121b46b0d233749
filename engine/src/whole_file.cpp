#include "whole_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {

std::string file_type_name(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "an unknown file type";
  }
}

// O_NONBLOCK so that a FIFO (or device) named like an image file cannot hang
// the open; anything but a regular file is then refused.
WholeFile::WholeFile(const std::string& path, int flags, mode_t mode) : path_(path) {
  base::UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode));
  if (!fd) throw_errno("open " + path);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno("fstat " + path);
  if (!S_ISREG(st.st_mode)) {
    throw EngineError("open " + path + ": not a regular file (" + file_type_name(st.st_mode) +
                          "); image files are regular files",
                      EINVAL);
  }
  // Regular files ignore O_NONBLOCK; cleared all the same so that nothing inherits it.
  if (!(flags & O_NONBLOCK) && fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0)
    throw_errno("fcntl F_SETFL " + path + " (clear O_NONBLOCK)");
  fd_ = fd.release();
}

WholeFile::~WholeFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<uint8_t> WholeFile::read_all(uint64_t limit) {
  struct stat st;
  if (fstat(fd_, &st) != 0) throw_errno("fstat " + path_);
  if (static_cast<uint64_t>(st.st_size) > limit)
    throw ImageError(path_, "size", std::to_string(st.st_size) + " bytes exceeds the limit of " +
                                        std::to_string(limit));
  std::vector<uint8_t> buf(static_cast<size_t>(st.st_size));
  buf.resize(read_at(buf.data(), buf.size(), 0));  // shrank under us: the framing check reports it
  return buf;
}

uint64_t WholeFile::size() {
  struct stat st;
  if (fstat(fd_, &st) != 0) throw_errno("fstat " + path_);
  return static_cast<uint64_t>(st.st_size);
}

size_t WholeFile::read_at(uint8_t* data, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read " + path_);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void WholeFile::write_at(std::span<const uint8_t> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + path_);
    done += static_cast<size_t>(n);
  }
}

void rename_into_place(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp + " to " + path, err);
  }
}

void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes) {
  std::string tmp = path + ".tmp";
  {
    WholeFile f(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f.write_at(bytes, 0);
  }
  rename_into_place(tmp, path);
}

}  // namespace flakelab::engine
