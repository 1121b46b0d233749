// timerfd on CLOCK_REALTIME/MONOTONIC/BOOTTIME: time left, interval, settime
// flags and unread expirations, from fdinfo (an expired periodic timer brought up
// to date first); an absolute timer keeps its deadline.
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "../anon_files.h"
#include "flakelab/engine/error.h"

// <linux/timerfd.h> clashes with glibc's <fcntl.h>; this is its definition.
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

namespace flakelab::engine {
namespace {

using base::UniqueFd;

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

struct TimerState {
  uint64_t clockid = 0, ticks = 0, flags = 0;
  int64_t value_sec = 0, value_nsec = 0, interval_sec = 0, interval_nsec = 0;
  // Expired with an interval but not forwarded yet: fdinfo shows no time left
  // and only the first of the expirations that read() would report.
  bool stale() const { return (interval_sec || interval_nsec) && !value_sec && !value_nsec && ticks > 0; }
};

std::string read_timer(const base::Fdinfo& info, TimerState& t) {
  auto clockid = info.number("clockid", 10), ticks = info.number("ticks", 10), flags = info.number("settime flags", 8);
  auto value = info.time("it_value"), interval = info.time("it_interval");
  if (!clockid || !ticks || !flags || !value || !interval)
    return "fdinfo lacks clockid/ticks/settime flags/it_value/it_interval";
  t.clockid = *clockid;
  t.ticks = *ticks;
  t.flags = *flags;
  t.value_sec = value->sec;
  t.value_nsec = value->nsec;
  t.interval_sec = interval->sec;
  t.interval_nsec = interval->nsec;
  return "";
}

std::string describe_timerfd(pid_t pid, int fd, const base::Fdinfo& info, bool frozen, pb::File* f) {
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
    // It can expire again between the two steps; a few rounds settle it. A timer
    // that stays "stale" was disarmed with ticks set by TFD_IOC_SET_TICKS: as is.
    for (int round = 0; round < 10 && t.stale(); ++round) {
      itimerspec now;
      if (timerfd_gettime(copy.get(), &now) != 0) throw_errno(what + ": timerfd_gettime");
      if (std::string why = read_timer(read_fdinfo(pid, fd), t); !why.empty()) return why;
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

class TimerfdKind : public AnonInodeKind {
 public:
  TimerfdKind() : AnonInodeKind(pb::FILE_TIMERFD, "anon_inode:[timerfd]") {}

 protected:
  std::string record_state(const FdProbe& fd, bool frozen, pb::File& f) const override {
    return describe_timerfd(fd.pid, fd.fd, fd.info, frozen, &f);
  }

  base::UniqueFd create(const pb::File& f, const std::string& what) const override {
    const auto& t = f.timerfd();
    base::UniqueFd fd(timerfd_create(static_cast<int>(t.clockid()), TFD_CLOEXEC));
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
    return fd;
  }
};

}  // namespace

const FileKindModule& timerfd_kind() {
  static const TimerfdKind kind;
  return kind;
}

}  // namespace flakelab::engine
