// timerfd's record: a supported clock, known settime flags, valid times.
#include <sys/timerfd.h>
#include <time.h>

#include "file_record.h"
#include "flakelab/base/hex.h"

namespace flakelab::engine {
namespace {

constexpr int64_t kKtimeSecMax = 9223372036;  // KTIME_SEC_MAX

bool valid_time(int64_t sec, int64_t nsec) { return sec >= 0 && sec <= kKtimeSecMax && nsec >= 0 && nsec < 1000000000; }

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_timerfd()) check.fail("timerfd", "missing");
  const auto& t = f.timerfd();
  if (t.clockid() != CLOCK_REALTIME && t.clockid() != CLOCK_MONOTONIC && t.clockid() != CLOCK_BOOTTIME)
    check.fail("timerfd.clockid", std::to_string(t.clockid()) + " is not a supported clock");
  if (t.settime_flags() & ~static_cast<uint32_t>(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
    check.fail("timerfd.settime_flags", base::hex(t.settime_flags()) + " has unknown bits");
  if (!valid_time(t.value_sec(), t.value_nsec())) check.fail("timerfd.value", "is not a valid time left");
  if (!valid_time(t.interval_sec(), t.interval_nsec())) check.fail("timerfd.interval", "is not a valid interval");
  if (!valid_time(t.due_sec(), t.due_nsec())) check.fail("timerfd.due", "is not a valid deadline");
  if ((t.settime_flags() & TFD_TIMER_ABSTIME) && (t.value_sec() || t.value_nsec()) && !t.due_sec() && !t.due_nsec())
    check.fail("timerfd.due", "an armed absolute timer needs its deadline");
}

std::string show(const pb::File& f) {
  const auto& t = f.timerfd();
  std::string s = record_text("timerfd clock %u ticks %llu left %lld.%09lld interval %lld.%09lld settime flags 0%o",
                              t.clockid(), static_cast<unsigned long long>(t.ticks()),
                              static_cast<long long>(t.value_sec()), static_cast<long long>(t.value_nsec()),
                              static_cast<long long>(t.interval_sec()), static_cast<long long>(t.interval_nsec()),
                              t.settime_flags());
  if (t.due_sec() || t.due_nsec())
    s += record_text(" due %lld.%09lld", static_cast<long long>(t.due_sec()), static_cast<long long>(t.due_nsec()));
  return s;
}

}  // namespace

const FileRecord* timerfd_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
