#include "flakelab/base/fdinfo.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace flakelab::base {
namespace {

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// The one owner of the descriptor read_whole() opens (the base layer has no fd
// owner of its own yet).
struct ClosingFd {
  int fd;
  ~ClosingFd() { ::close(fd); }
};

std::string read_whole(const std::string& path) {
  ClosingFd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(file.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "read " + path);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Fdinfo Fdinfo::parse(std::string_view text) {
  Fdinfo out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.rfind("tfd:", 0) == 0) {
      out.watch_lines_.emplace_back(line);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.fields_[std::string(line.substr(0, colon))] = std::string(trim(line.substr(colon + 1)));
  }
  return out;
}

Fdinfo Fdinfo::read(pid_t pid, int fd) {
  return parse(read_whole("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
}

std::optional<std::string_view> Fdinfo::text(std::string_view key) const {
  auto it = fields_.find(key);
  if (it == fields_.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<uint64_t> Fdinfo::number(std::string_view key, int base) const {
  auto value = text(key);
  if (!value || value->empty() || (*value)[0] == '-' || (*value)[0] == '+') return std::nullopt;
  std::string s(*value);  // strtoull needs the terminator
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, base);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

std::optional<FdinfoTime> Fdinfo::time(std::string_view key) const {
  auto value = text(key);
  if (!value) return std::nullopt;
  std::string s(*value);
  long long sec = 0, nsec = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "(%lld, %lld)%c", &sec, &nsec, &tail) != 2) return std::nullopt;
  return FdinfoTime{sec, nsec};
}

uint32_t Fdinfo::flags() const {
  auto v = number("flags", 8);
  if (!v) throw std::runtime_error("fdinfo has no readable flags");
  return static_cast<uint32_t>(*v);
}

uint64_t Fdinfo::pos() const {
  auto v = number("pos", 10);
  if (!v) throw std::runtime_error("fdinfo has no readable pos");
  return *v;
}

std::optional<EpollWatch> parse_epoll_watch(std::string_view line) {
  std::string s(line);
  int tfd = -1;
  unsigned events = 0;
  unsigned long long data = 0;
  if (std::sscanf(s.c_str(), "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3 || tfd < 0)
    return std::nullopt;
  return EpollWatch{tfd, events, data};
}

}  // namespace flakelab::base
