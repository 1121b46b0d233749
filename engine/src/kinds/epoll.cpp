// epoll: every watch (fd number, events, data) from fdinfo's "tfd:" lines. The
// restorer creates an empty epoll; the target adds the watches itself once all
// its fds are in place (restore_epoll_watches()).
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>

#include "../anon_files.h"
#include "../proc_files.h"
#include "flakelab/engine/error.h"
#include "path_file.h"

namespace flakelab::engine {
namespace {

// A file the engine recreates, so that a watch on it can be added back.
bool restorable_watch_target(const std::string& link) {
  return link.rfind("pipe:[", 0) == 0 || anon_inode_kind_for_link(link) != nullptr || is_path_link(link);
}

class EpollKind : public AnonInodeKind {
 public:
  EpollKind() : AnonInodeKind(pb::FILE_EPOLL, "anon_inode:[eventpoll]") {}

 protected:
  std::string record_state(const FdProbe& fd, bool, pb::File& f) const override {
    auto* ep = f.mutable_epoll();
    const auto& lines = fd.info.watch_lines();
    if (lines.size() > ImageLimits::kMaxFds)
      return "has " + std::to_string(lines.size()) + " watches; at most " + std::to_string(ImageLimits::kMaxFds) +
             " are supported";
    std::map<int, uint32_t> seen;  // tfd -> watches with that number so far
    for (const std::string& line : lines) {
      auto watch = base::parse_epoll_watch(line);
      if (!watch) return "cannot parse fdinfo line \"" + line + "\"";
      int tfd = watch->tfd;
      // The watch is keyed by (file, fd number): it can only be added back if that
      // number still holds the very file it watches.
      kcmp_epoll_slot slot{static_cast<uint32_t>(fd.fd), static_cast<uint32_t>(tfd), seen[tfd]++};
      std::string link;
      try {
        link = procfs::read_link(base::procfs::fd_path(fd.pid, tfd));
      } catch (const EngineError&) {
      }
      if (link.empty() || syscall(SYS_kcmp, fd.pid, fd.pid, KCMP_EPOLL_TFD, tfd, &slot) != 0)
        return "watches fd " + std::to_string(tfd) +
               ", which was closed or now holds another file (the watched file is open only under other numbers); "
               "not supported yet";
      if (!restorable_watch_target(link))
        return "watches fd " + std::to_string(tfd) + " (" + link + "), a kind of file that is not supported yet";
      auto* w = ep->add_watches();
      w->set_tfd(static_cast<uint32_t>(tfd));
      w->set_events(watch->events);
      w->set_data(watch->data);
    }
    return "";
  }

  base::UniqueFd create(const pb::File&, const std::string& what) const override {
    // Watches come later, from inside the target (restore_epoll_watches).
    base::UniqueFd fd(epoll_create1(EPOLL_CLOEXEC));
    if (!fd) throw_errno(what + ": epoll_create1");
    return fd;
  }
  // An epoll shared with an earlier process of the tree: that process adds the
  // watches to the one object (TreeFiles::process_view()).
  bool strip_shared(pb::File& f) const override {
    if (f.epoll().watches_size() == 0) return false;
    f.mutable_epoll()->clear_watches();
    return true;
  }
};

}  // namespace

const FileKindModule& epoll_kind() {
  static const EpollKind kind;
  return kind;
}

void restore_epoll_watches(const pb::Process& p, const TargetCalls& target) {
  std::map<uint32_t, int> fd_of;  // files index -> one fd number of it in the target
  for (const auto& fd : p.fds()) fd_of.emplace(fd.file(), static_cast<int>(fd.fd()));
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (f.kind() != pb::FILE_EPOLL || f.epoll().watches_size() == 0) continue;
    auto it = fd_of.find(static_cast<uint32_t>(i));
    int epfd = it == fd_of.end() ? -1 : it->second;
    if (epfd < 0) throw EngineError("restore pid " + std::to_string(p.pid()) + ": epoll files[" + std::to_string(i) + "] has no fd");
    for (const auto& w : f.epoll().watches()) {
      epoll_event ev{};
      ev.events = w.events();
      ev.data.u64 = w.data();
      uint64_t addr = target.put(&ev, sizeof(ev));
      target.call("epoll_ctl ADD fd " + std::to_string(w.tfd()) + " to epoll fd " + std::to_string(epfd), SYS_epoll_ctl,
                  epfd, EPOLL_CTL_ADD, w.tfd(), static_cast<long>(addr));
      target.reset();
    }
  }
}

}  // namespace flakelab::engine
