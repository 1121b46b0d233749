#include "anon_files.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "flakelab/engine/error.h"
#include "proc_files.h"

// <linux/timerfd.h> clashes with glibc's <fcntl.h>; this is its definition.
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

namespace flakelab::engine {
namespace {

using compel::UniqueFd;

struct Fdinfo {
  std::map<std::string, std::string> fields;  // "key" -> value, trimmed
  std::vector<std::string> watches;           // epoll "tfd: ..." lines
};

Fdinfo parse_fdinfo(const std::string& text) {
  Fdinfo out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("tfd:", 0) == 0) {
      out.watches.push_back(line);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t b = line.find_first_not_of(" \t", colon + 1);
    size_t e = line.find_last_not_of(" \t");
    out.fields[line.substr(0, colon)] = b == std::string::npos ? "" : line.substr(b, e - b + 1);
  }
  return out;
}

bool to_u64(const std::string& s, int base, uint64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, base);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  out = v;
  return true;
}

bool field(const Fdinfo& info, const char* key, int base, uint64_t& out) {
  auto it = info.fields.find(key);
  return it != info.fields.end() && to_u64(it->second, base, out);
}

// "(sec, nsec)" as timerfd's fdinfo prints a timespec.
bool timespec_field(const Fdinfo& info, const char* key, int64_t& sec, int64_t& nsec) {
  auto it = info.fields.find(key);
  if (it == info.fields.end()) return false;
  long long s = 0, ns = 0;
  char tail = 0;
  if (std::sscanf(it->second.c_str(), "(%lld, %lld)%c", &s, &ns, &tail) != 2) return false;
  sec = s;
  nsec = ns;
  return true;
}

const char* clock_name(uint64_t id) {
  switch (id) {
    case CLOCK_REALTIME: return "CLOCK_REALTIME";
    case CLOCK_MONOTONIC: return "CLOCK_MONOTONIC";
    case CLOCK_BOOTTIME: return "CLOCK_BOOTTIME";
    case CLOCK_REALTIME_ALARM: return "CLOCK_REALTIME_ALARM";
    case CLOCK_BOOTTIME_ALARM: return "CLOCK_BOOTTIME_ALARM";
    default: return "an unknown clock";
  }
}

// A file the engine recreates, so that a watch on it can be added back.
bool restorable_watch_target(const std::string& link) {
  return link.rfind("pipe:[", 0) == 0 || anon_file_kind(link) != pb::FILE_UNKNOWN || (!link.empty() && link[0] == '/');
}

std::string describe_eventfd(const Fdinfo& info, pb::File* f) {
  uint64_t count = 0, semaphore = 0;
  if (!field(info, "eventfd-count", 16, count)) return "fdinfo has no readable eventfd-count";
  // Shown since Linux 6.6; without it EFD_SEMAPHORE cannot be told apart.
  if (!field(info, "eventfd-semaphore", 10, semaphore))
    return "fdinfo has no eventfd-semaphore (kernel older than 6.6), so EFD_SEMAPHORE cannot be dumped";
  f->mutable_eventfd()->set_count(count);
  f->mutable_eventfd()->set_semaphore(semaphore != 0);
  return "";
}

std::string describe_epoll(pid_t pid, int fd, const Fdinfo& info, pb::File* f) {
  auto* ep = f->mutable_epoll();
  if (info.watches.size() > ImageLimits::kMaxFds)
    return "has " + std::to_string(info.watches.size()) + " watches; at most " + std::to_string(ImageLimits::kMaxFds) +
           " are supported";
  std::map<int, uint32_t> seen;  // tfd -> watches with that number so far
  for (const std::string& line : info.watches) {
    int tfd = -1;
    unsigned events = 0;
    unsigned long long data = 0;
    if (std::sscanf(line.c_str(), "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3 || tfd < 0)
      return "cannot parse fdinfo line \"" + line + "\"";
    // The watch is keyed by (file, fd number): it can only be added back if that
    // number still holds the very file it watches.
    kcmp_epoll_slot slot{static_cast<uint32_t>(fd), static_cast<uint32_t>(tfd), seen[tfd]++};
    std::string link;
    try {
      link = procfs::read_link("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(tfd));
    } catch (const EngineError&) {
    }
    if (link.empty() || syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, tfd, &slot) != 0)
      return "watches fd " + std::to_string(tfd) +
             ", which was closed or now holds another file (the watched file is open only under other numbers); "
             "not supported yet";
    if (!restorable_watch_target(link))
      return "watches fd " + std::to_string(tfd) + " (" + link + "), a kind of file that is not supported yet";
    auto* w = ep->add_watches();
    w->set_tfd(static_cast<uint32_t>(tfd));
    w->set_events(events);
    w->set_data(data);
  }
  return "";
}

struct TimerState {
  uint64_t clockid = 0, ticks = 0, flags = 0;
  int64_t value_sec = 0, value_nsec = 0, interval_sec = 0, interval_nsec = 0;
  // Expired with an interval but not forwarded yet: fdinfo shows no time left
  // and only the first of the expirations that read() would report.
  bool stale() const { return (interval_sec || interval_nsec) && !value_sec && !value_nsec && ticks > 0; }
};

std::string read_timer(const Fdinfo& info, TimerState& t) {
  if (!field(info, "clockid", 10, t.clockid) || !field(info, "ticks", 10, t.ticks) ||
      !field(info, "settime flags", 8, t.flags) || !timespec_field(info, "it_value", t.value_sec, t.value_nsec) ||
      !timespec_field(info, "it_interval", t.interval_sec, t.interval_nsec))
    return "fdinfo lacks clockid/ticks/settime flags/it_value/it_interval";
  return "";
}

std::string describe_timerfd(pid_t pid, int fd, const Fdinfo& info, bool frozen, pb::File* f) {
  TimerState t;
  if (std::string why = read_timer(info, t); !why.empty()) return why;
  if (t.clockid != CLOCK_REALTIME && t.clockid != CLOCK_MONOTONIC && t.clockid != CLOCK_BOOTTIME)
    return "timerfd on clock " + std::to_string(t.clockid) + " (" + clock_name(t.clockid) +
           ") is not supported yet (only CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME; alarm clocks wake "
           "the machine and need CAP_WAKE_ALARM)";
  if (t.flags & ~static_cast<uint64_t>(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
    return "timerfd settime flags " + std::to_string(t.flags) + " have unknown bits";
  if (frozen && t.stale()) {
    std::string what = "dump pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (timerfd)";
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) throw_errno(what + ": pidfd_open");
    UniqueFd copy(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
    if (!copy) throw_errno(what + ": pidfd_getfd");
    std::string path = "/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd);
    // It can expire again between the two steps; a few rounds settle it. A timer
    // that stays "stale" was disarmed with ticks set by TFD_IOC_SET_TICKS: as is.
    for (int round = 0; round < 10 && t.stale(); ++round) {
      itimerspec now;
      if (timerfd_gettime(copy.get(), &now) != 0) throw_errno(what + ": timerfd_gettime");
      if (std::string why = read_timer(parse_fdinfo(procfs::read_file(path)), t); !why.empty()) return why;
    }
  }
  timespec due{};
  if ((t.flags & TFD_TIMER_ABSTIME) && (t.value_sec || t.value_nsec)) {
    // fdinfo shows the time left; the deadline is now + that on the timer's clock.
    if (clock_gettime(static_cast<clockid_t>(t.clockid), &due) != 0)
      throw_errno("dump pid " + std::to_string(pid) + " fd " + std::to_string(fd) + ": clock_gettime");
    due.tv_sec += t.value_sec;
    due.tv_nsec += t.value_nsec;
    if (due.tv_nsec >= 1000000000) {
      due.tv_nsec -= 1000000000;
      ++due.tv_sec;
    }
  }
  auto* r = f->mutable_timerfd();
  r->set_due_sec(due.tv_sec);
  r->set_due_nsec(due.tv_nsec);
  r->set_clockid(static_cast<uint32_t>(t.clockid));
  r->set_ticks(t.ticks);
  r->set_settime_flags(static_cast<uint32_t>(t.flags));
  r->set_value_sec(t.value_sec);
  r->set_value_nsec(t.value_nsec);
  r->set_interval_sec(t.interval_sec);
  r->set_interval_nsec(t.interval_nsec);
  return "";
}

std::string describe_signalfd(const Fdinfo& info, pb::File* f) {
  uint64_t mask = 0;
  if (!field(info, "sigmask", 16, mask)) return "fdinfo has no readable sigmask";
  f->mutable_signalfd()->set_mask(mask);
  return "";
}

}  // namespace

pb::FileKind anon_file_kind(const std::string& link) {
  if (link == "anon_inode:[eventfd]") return pb::FILE_EVENTFD;
  if (link == "anon_inode:[eventpoll]") return pb::FILE_EPOLL;
  if (link == "anon_inode:[timerfd]") return pb::FILE_TIMERFD;
  if (link == "anon_inode:[signalfd]") return pb::FILE_SIGNALFD;
  return pb::FILE_UNKNOWN;
}

bool is_anon_file_kind(pb::FileKind kind) {
  return kind == pb::FILE_EVENTFD || kind == pb::FILE_EPOLL || kind == pb::FILE_TIMERFD || kind == pb::FILE_SIGNALFD;
}

std::string describe_anon_file(pid_t pid, int fd, pb::FileKind kind, bool frozen, pb::File* f) {
  Fdinfo info = parse_fdinfo(
      procfs::read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
  uint64_t flags = 0;
  if (!field(info, "flags", 8, flags)) return "fdinfo has no readable flags";
  flags &= ~static_cast<uint64_t>(O_CLOEXEC);  // per fd, kept in pb::Fd
  // Status flags set with F_SETFL beyond O_NONBLOCK (O_ASYNC needs an owner...)
  // would be lost.
  if ((flags & ~static_cast<uint64_t>(O_ACCMODE | O_NONBLOCK)) != 0 || (flags & O_ACCMODE) != O_RDWR) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0%llo", static_cast<unsigned long long>(flags));
    return std::string("file flags ") + buf + " are not supported yet (only O_RDWR with or without O_NONBLOCK)";
  }
  f->set_kind(kind);
  f->set_flags(static_cast<uint32_t>(flags));
  switch (kind) {
    case pb::FILE_EVENTFD: return describe_eventfd(info, f);
    case pb::FILE_EPOLL: return describe_epoll(pid, fd, info, f);
    case pb::FILE_TIMERFD: return describe_timerfd(pid, fd, info, frozen, f);
    case pb::FILE_SIGNALFD: return describe_signalfd(info, f);
    default: return "is not an anonymous-inode file the engine knows";
  }
}

UniqueFd create_anon_file(const pb::Process& p, const pb::File& f, int min_fd) {
  std::string what = "restore pid " + std::to_string(p.pid()) + ": " + pb::FileKind_Name(f.kind());
  bool nonblock = f.flags() & O_NONBLOCK;
  UniqueFd fd;
  switch (f.kind()) {
    case pb::FILE_EVENTFD: {
      // eventfd() takes an unsigned int; a 64-bit count is written instead.
      fd.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (f.eventfd().semaphore() ? EFD_SEMAPHORE : 0)));
      if (!fd) throw_errno(what + ": eventfd");
      uint64_t count = f.eventfd().count();
      if (count != 0 && ::write(fd.get(), &count, sizeof(count)) != static_cast<ssize_t>(sizeof(count)))
        throw_errno(what + ": write count " + std::to_string(count));
      break;
    }
    case pb::FILE_EPOLL:
      // Watches come later, from inside the target (restore_epoll_watches).
      fd.reset(epoll_create1(EPOLL_CLOEXEC));
      if (!fd) throw_errno(what + ": epoll_create1");
      break;
    case pb::FILE_TIMERFD: {
      const auto& t = f.timerfd();
      fd.reset(timerfd_create(static_cast<int>(t.clockid()), TFD_CLOEXEC));
      if (!fd) throw_errno(what + ": timerfd_create clock " + std::to_string(t.clockid()));
      itimerspec its{};
      its.it_interval = {static_cast<time_t>(t.interval_sec()), static_cast<long>(t.interval_nsec())};
      its.it_value = {static_cast<time_t>(t.value_sec()), static_cast<long>(t.value_nsec())};
      // An absolute timer keeps its deadline (and its flags, TFD_TIMER_CANCEL_ON_SET
      // with them); a deadline passed meanwhile fires at once, missed periods counted.
      if ((t.settime_flags() & TFD_TIMER_ABSTIME) && (t.value_sec() || t.value_nsec()))
        its.it_value = {static_cast<time_t>(t.due_sec()), static_cast<long>(t.due_nsec())};
      if (timerfd_settime(fd.get(), static_cast<int>(t.settime_flags()), &its, nullptr) != 0)
        throw_errno(what + ": timerfd_settime");
      // After settime, which zeroes them. A timer due within these microseconds
      // would have that one expiry overwritten.
      uint64_t ticks = t.ticks();
      if (ticks != 0 && ioctl(fd.get(), TFD_IOC_SET_TICKS, &ticks) != 0) {
        if (errno == ENOTTY)
          throw_errno(what + ": TFD_IOC_SET_TICKS (" + std::to_string(ticks) +
                      " unread expirations cannot be put back: the kernel lacks CONFIG_CHECKPOINT_RESTORE)");
        throw_errno(what + ": TFD_IOC_SET_TICKS " + std::to_string(ticks));
      }
      break;
    }
    case pb::FILE_SIGNALFD: {
      uint64_t mask = f.signalfd().mask();
      fd.reset(static_cast<int>(syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC)));
      if (!fd) throw_errno(what + ": signalfd");
      break;
    }
    default:
      throw EngineError(what + ": not an anonymous-inode file");
  }
  // Creation took the blocking mode it needed; now the saved one.
  if (fcntl(fd.get(), F_SETFL, nonblock ? O_NONBLOCK : 0) != 0) throw_errno(what + ": F_SETFL");
  UniqueFd high(fcntl(fd.get(), F_DUPFD_CLOEXEC, min_fd));
  if (!high) throw_errno(what + ": F_DUPFD " + std::to_string(min_fd));
  return high;
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
