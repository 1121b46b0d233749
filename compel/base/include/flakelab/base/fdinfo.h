// /proc/PID/fdinfo/FD, parsed once: "key: value" lines (pos, flags, mnt_id, and
// each kind's own: eventfd-count, clockid, it_value, sigmask...) and epoll's
// "tfd:" lines, one per watch. Values are kept as text; the accessors parse them
// in the base the kernel prints them in (flags in octal, counts in hex...).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flakelab::base {

// One epoll watch as fdinfo prints it: "tfd: N events: HEX data: HEX ...".
struct EpollWatch {
  int tfd = -1;
  uint32_t events = 0;
  uint64_t data = 0;
};

// A timespec as timerfd's fdinfo prints it: "(sec, nsec)".
struct FdinfoTime {
  int64_t sec = 0;
  int64_t nsec = 0;
};

class Fdinfo {
 public:
  // The text of an fdinfo file.
  static Fdinfo parse(std::string_view text);
  // Reads /proc/PID/fdinfo/FD. Throws std::system_error naming the path.
  static Fdinfo read(pid_t pid, int fd);

  // The trimmed value of `key`, if the line is there.
  std::optional<std::string_view> text(std::string_view key) const;
  // `key`'s value as an unsigned number in `base` (8, 10, 16); nothing if the
  // key is missing or its value is not such a number.
  std::optional<uint64_t> number(std::string_view key, int base) const;
  std::optional<FdinfoTime> time(std::string_view key) const;

  // The open file description's status flags (octal) and offset. Throw
  // std::runtime_error naming the key if the kernel did not print them.
  uint32_t flags() const;
  uint64_t pos() const;

  // epoll's "tfd:" lines, as printed.
  const std::vector<std::string>& watch_lines() const { return watch_lines_; }

 private:
  std::map<std::string, std::string, std::less<>> fields_;
  std::vector<std::string> watch_lines_;
};

// One "tfd:" line of an epoll's fdinfo; nothing if it does not read as one.
std::optional<EpollWatch> parse_epoll_watch(std::string_view line);

}  // namespace flakelab::base
