#include "pipes.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

#include "flakelab/base/procfs.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {

pb::Pipe snapshot_pipe(pid_t pid, int fd, uint64_t id) {
  std::string path = base::procfs::fd_path(pid, fd);
  std::string what = "dump pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (pipe:[" + std::to_string(id) + "])";
  base::UniqueFd src(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!src) throw_errno(what + ": open " + path);
  int capacity = fcntl(src.get(), F_GETPIPE_SZ);
  if (capacity < 0) throw_errno(what + ": F_GETPIPE_SZ");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno(what + ": pipe2");
  base::UniqueFd r(fds[0]), w(fds[1]);
  if (fcntl(w.get(), F_SETPIPE_SZ, capacity) < capacity) throw_errno(what + ": F_SETPIPE_SZ " + std::to_string(capacity));
  pb::Pipe out;
  out.set_id(id);
  out.set_capacity(static_cast<uint32_t>(capacity));
  ssize_t n = tee(src.get(), w.get(), INT_MAX, SPLICE_F_NONBLOCK);
  if (n < 0 && errno != EAGAIN) throw_errno(what + ": tee");
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t got = ::read(r.get(), buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    data.append(buf, static_cast<size_t>(got));
  }
  if (n > 0 && data.size() != static_cast<size_t>(n)) throw EngineError(what + ": short copy of the pipe's contents");
  out.set_data(std::move(data));
  return out;
}

std::pair<base::UniqueFd, base::UniqueFd> recreate_pipe(const pb::Pipe& pipe, pid_t pid) {
  std::string what = "restore pid " + std::to_string(pid) + ": pipe:[" + std::to_string(pipe.id()) + "]";
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno(what + ": pipe2");
  base::UniqueFd r(fds[0]), w(fds[1]);
  refill_pipe(w.get(), pipe.capacity(), pipe.data(), what);
  return {std::move(r), std::move(w)};
}

void refill_pipe(int write_end, uint32_t capacity, const std::string& data, const std::string& what) {
  if (fcntl(write_end, F_SETPIPE_SZ, static_cast<int>(capacity)) < static_cast<int>(capacity))
    throw_errno(what + ": F_SETPIPE_SZ " + std::to_string(capacity));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(write_end, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno(what + ": write contents", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

}  // namespace flakelab::engine
