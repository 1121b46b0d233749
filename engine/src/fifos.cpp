#include "fifos.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <map>

#include "flakelab/base/procfs.h"
#include "flakelab/engine/error.h"
#include "kinds/kind.h"
#include "kinds/path_file.h"
#include "safe_open.h"
#include "pipes.h"
#include "proc_files.h"

namespace flakelab::engine {

bool is_fifo_fd(const std::string& link, const struct stat& st) {
  return S_ISFIFO(st.st_mode) && !link.empty() && link[0] == '/';
}

namespace {
thread_local HolderScan* t_scan = nullptr;
}

HolderScan::HolderScan() : outer_(t_scan) { t_scan = this; }
HolderScan::~HolderScan() { t_scan = outer_; }

const std::vector<HolderScan::Holder>& HolderScan::holders_of(const std::string& link) {
  if (!scanned_) {
    scanned_ = true;
    for (pid_t pid : base::procfs::list_pids())
      for (int fd : base::procfs::list_fds(pid)) {  // none: gone, or a kernel thread
        char buf[4096];
        ssize_t n = readlink(base::procfs::fd_path(pid, fd).c_str(), buf, sizeof(buf));
        if (n <= 0) continue;  // closed meanwhile
        by_link_[std::string(buf, static_cast<size_t>(n))].push_back({pid, fd});
      }
  }
  static const std::vector<Holder> kNone;
  auto it = by_link_.find(link);
  return it == by_link_.end() ? kNone : it->second;
}

std::string held_elsewhere(pid_t pid, const std::string& link, dev_t dev, ino_t ino, const std::vector<pid_t>& ignore) {
  if (!t_scan) {
    HolderScan once;  // no scope around us: a scan of our own
    return held_elsewhere(pid, link, dev, ino, ignore);
  }
  for (const auto& h : t_scan->holders_of(link)) {
    if (h.pid == pid || std::find(ignore.begin(), ignore.end(), h.pid) != ignore.end()) continue;
    struct stat st;
    if (::stat(base::procfs::fd_path(h.pid, h.fd).c_str(), &st) != 0 || st.st_dev != dev || st.st_ino != ino) continue;
    return "pid " + std::to_string(h.pid) + " fd " + std::to_string(h.fd);
  }
  return "";
}

std::string first_holder(const std::string& link) {
  if (!t_scan) {
    HolderScan once;  // no scope around us: a scan of our own
    return first_holder(link);
  }
  const auto& holders = t_scan->holders_of(link);
  if (holders.empty()) return "";
  return "pid " + std::to_string(holders[0].pid) + " fd " + std::to_string(holders[0].fd);
}

void reopen_fifos(const pb::Process& p, std::vector<base::UniqueFd>& open_files, int min_fd,
                  const std::vector<std::optional<FsIdentity>>& openers) {
  std::string who = "restore pid " + std::to_string(p.pid()) + ": FIFO ";
  const std::string opening = "restore pid " + std::to_string(p.pid()) + ": open FIFO";
  std::map<uint32_t, base::UniqueFd> holders;  // Fifo.id -> our read-write open of it
  for (const auto& fifo : p.fifos()) {
    const pb::File* file = nullptr;
    for (const auto& f : p.files())
      if (f.kind() == pb::FILE_FIFO && f.fifo_id() == fifo.id()) {
        file = &f;
        break;
      }
    if (!file) continue;  // validate_image() refuses this
    std::string what = who + file->path();
    // O_RDWR never blocks on a FIFO, and while we hold it every saved end opens at
    // once. The restorer's own handle (the saved ends may be read- or write-only):
    // opened as root, but only once the path is checked to be the dumped FIFO.
    base::UniqueFd h = open_image_path(file->path(), O_RDWR | O_NONBLOCK, expected_file(*file), opening);
    int queued = 0;
    if (ioctl(h.get(), FIONREAD, &queued) != 0) throw_errno(what + ": FIONREAD");
    if (queued != 0)
      throw EngineError(what + ": it already holds " + std::to_string(queued) + " bytes (another process has it open)");
    refill_pipe(h.get(), fifo.capacity(), fifo.data(), what);
    holders.emplace(fifo.id(), std::move(h));
  }
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (f.kind() != pb::FILE_FIFO) continue;
    std::string what = who + f.path();
    base::UniqueFd fd;
    {
      const auto& opener = static_cast<size_t>(i) < openers.size() ? openers[static_cast<size_t>(i)] : std::nullopt;
      FsIdentityScope as_owner(opener, what);
      fd = open_image_path(f.path(), static_cast<int>(f.flags()), expected_file(f), opening);
    }
    open_files.at(static_cast<size_t>(i)) = dup_above(fd.get(), min_fd, what);
  }
  // `holders` close here: the saved ends alone keep the FIFO and its bytes, so a
  // read end whose writers were gone sees EOF after the data, as before.
}

}  // namespace flakelab::engine
