#include "flakelab/compel/remote_memory.h"

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "flakelab/compel/error.h"

namespace flakelab::compel {
namespace {

std::string where(std::string_view call, pid_t pid, RemoteAddr addr, size_t size, std::string_view what) {
  return fmt::format("{} pid {} at {} ({} bytes{}{})", call, pid, addr, size, what.empty() ? "" : ", ", what);
}

}  // namespace

void write_remote(pid_t pid, RemoteAddr to, const void* from, size_t size, std::string_view what) {
  iovec local{const_cast<void*>(from), size};
  iovec remote = remote_iovec(to, size);
  ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n < 0) throw_errno(where("process_vm_writev", pid, to, size, what));
  // A short copy stopped at a page it could not write.
  if (static_cast<size_t>(n) != size) throw_errno(where("process_vm_writev", pid, to, size, what), EFAULT);
}

void read_remote(pid_t pid, RemoteAddr from, void* to, size_t size, std::string_view what) {
  iovec local{to, size};
  iovec remote = remote_iovec(from, size);
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0) throw_errno(where("process_vm_readv", pid, from, size, what));
  if (static_cast<size_t>(n) != size) throw_errno(where("process_vm_readv", pid, from, size, what), EFAULT);
}

}  // namespace flakelab::compel
