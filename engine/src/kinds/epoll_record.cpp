// epoll's record: every watch on an fd of the process's table (restore adds each
// watch under its fd number in the target), once, with known events.
#include <sys/epoll.h>

#include <set>

#include "file_record.h"
#include "flakelab/base/hex.h"

namespace flakelab::engine {
namespace {

constexpr uint32_t kEpollEvents = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND |
                                  EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP | EPOLLEXCLUSIVE | EPOLLWAKEUP |
                                  EPOLLONESHOT | EPOLLET;

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_epoll()) check.fail("epoll", "missing");
  if (!check.referenced()) check.fail("epoll", "no fd refers to this epoll, so its watches have no number to go to");
  check.count("epoll.watches", f.epoll().watches_size(), ImageLimits::kMaxFds);
  std::set<uint32_t> tfds;
  for (int k = 0; k < f.epoll().watches_size(); ++k) {
    const auto& w = f.epoll().watches(k);
    std::string name = "epoll.watches[" + std::to_string(k) + "]";
    int64_t target_file = check.file_of(w.tfd());
    if (target_file < 0) check.fail(name + ".tfd", std::to_string(w.tfd()) + " is not an fd in fds");
    if (!tfds.insert(w.tfd()).second) check.fail(name + ".tfd", std::to_string(w.tfd()) + " is watched twice");
    if (target_file == check.index()) check.fail(name + ".tfd", "an epoll cannot watch itself");
    auto target = check.process().files(static_cast<int>(target_file)).kind();
    if (target == pb::FILE_REGULAR || target == pb::FILE_DIRECTORY)
      check.fail(name + ".tfd", "fd " + std::to_string(w.tfd()) + " is a " + pb::FileKind_Name(target) +
                                    ", which epoll cannot watch");
    if (w.events() & ~kEpollEvents) check.fail(name + ".events", base::hex(w.events()) + " has unknown bits");
    if ((w.events() & EPOLLEXCLUSIVE) && (w.events() & EPOLLONESHOT))
      check.fail(name + ".events", "EPOLLEXCLUSIVE cannot be combined with EPOLLONESHOT");
  }
}

std::string show(const pb::File& f) {
  std::string s = record_text("epoll %d watches", f.epoll().watches_size());
  for (const auto& w : f.epoll().watches())
    s += record_text("\n      watch fd %u events 0x%x data 0x%llx", w.tfd(), w.events(),
                     static_cast<unsigned long long>(w.data()));
  return s;
}

}  // namespace

const FileRecord* epoll_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
