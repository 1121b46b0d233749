#include "flakelab/base/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "flakelab/base/os_error.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::base::procfs {

std::string read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_os_error("open " + path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_os_error("read " + path, errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) throw_os_error("readlink " + path, errno);
  if (static_cast<size_t>(n) == sizeof(buf)) throw OsError("readlink " + path + ": target too long");
  return std::string(buf, static_cast<size_t>(n));
}

std::string MapEntry::describe() const {
  char buf[96];
  snprintf(buf, sizeof(buf), "%llx-%llx %c%c%c%c", static_cast<unsigned long long>(start),
           static_cast<unsigned long long>(end), (prot & PROT_READ) ? 'r' : '-', (prot & PROT_WRITE) ? 'w' : '-',
           (prot & PROT_EXEC) ? 'x' : '-', shared ? 's' : 'p');
  std::string s = buf;
  if (!path.empty()) s.append(" ").append(path);
  return s;
}

namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

std::vector<long> list_numeric_entries(const std::string& path) {
  std::vector<long> out;
  std::unique_ptr<DIR, DirCloser> dir(opendir(path.c_str()));
  if (!dir) return out;
  while (dirent* e = readdir(dir.get())) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0') out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Hand-rolled field parsing: a dump reads the maps several times, and sscanf and
// iostreams cost more than the reads themselves.
bool take_number(std::string_view& s, uint64_t& v, int base) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()));
  return true;
}

bool take_char(std::string_view& s, char c) {
  if (s.empty() || s[0] != c) return false;
  s.remove_prefix(1);
  return true;
}

// "start-end perms offset major:minor inode   path"
bool parse_map_header(std::string_view s, MapEntry& e) {
  uint64_t dev_major, dev_minor;
  if (!take_number(s, e.start, 16) || !take_char(s, '-') || !take_number(s, e.end, 16) || !take_char(s, ' '))
    return false;
  if (s.size() < 5 || s[4] != ' ') return false;
  e.prot = (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) | (s[2] == 'x' ? PROT_EXEC : 0);
  e.shared = s[3] == 's';
  s.remove_prefix(5);
  if (!take_number(s, e.pgoff, 16) || !take_char(s, ' ') || !take_number(s, dev_major, 16) || !take_char(s, ':') ||
      !take_number(s, dev_minor, 16) || !take_char(s, ' ') || !take_number(s, e.inode, 10))
    return false;
  if (!s.empty() && s[0] != ' ') return false;
  while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  e.path = std::string(s);
  return true;
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

std::vector<MapEntry> read_maps(pid_t pid, bool vm_flags) {
  std::string path = "/proc/" + std::to_string(pid) + (vm_flags ? "/smaps" : "/maps");
  std::string text = read_file(path);
  std::vector<MapEntry> maps;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (line.empty()) continue;
    char c = line[0];
    bool header = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (header) {
      MapEntry e;
      if (!parse_map_header(line, e))
        throw OsError("parse " + path + ": unexpected line \"" + std::string(line) + "\"");
      maps.push_back(std::move(e));
    } else if (line.substr(0, 8) == "VmFlags:" && !maps.empty()) {
      for (std::string_view f : split_words(line.substr(8))) {
        if (f == "gd") maps.back().growsdown = true;
        if (f == "nr") maps.back().noreserve = true;
        if (f == "mw") maps.back().maywrite = true;
        maps.back().vm_flags.emplace_back(f);
      }
    }
  }
  return maps;
}

std::string status_field(pid_t pid, const std::string& key) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/status");
  std::string needle = key + ":";
  size_t pos = text.find("\n" + needle);
  if (pos == std::string::npos) return "";
  pos += needle.size() + 1;
  size_t eol = text.find('\n', pos);
  std::string v = text.substr(pos, eol - pos);
  size_t b = v.find_first_not_of(" \t");
  return b == std::string::npos ? "" : v.substr(b);
}

std::vector<std::string> stat_fields(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::string text = read_file(path);
  size_t close = text.rfind(')');
  if (close == std::string::npos) throw OsError("parse " + path + ": no command name");
  std::vector<std::string> out;
  for (std::string_view w : split_words(std::string_view(text).substr(close + 1))) out.emplace_back(w);
  return out;
}

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> tids;
  for (long v : list_numeric_entries("/proc/" + std::to_string(pid) + "/task")) tids.push_back(static_cast<pid_t>(v));
  return tids;
}

std::vector<int> list_fds(pid_t pid) {
  std::vector<int> fds;
  for (long v : list_numeric_entries("/proc/" + std::to_string(pid) + "/fd")) fds.push_back(static_cast<int>(v));
  return fds;
}

std::vector<pid_t> list_children(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t tid : list_threads(pid)) {
    std::string text;
    try {
      text = read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children");
    } catch (const OsError&) {
      continue;  // the thread exited meanwhile
    }
    for (std::string_view w : split_words(text)) {
      pid_t child = 0;
      if (std::from_chars(w.data(), w.data() + w.size(), child).ec == std::errc()) out.push_back(child);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<pid_t> list_pids() {
  std::vector<pid_t> pids;
  for (long v : list_numeric_entries("/proc")) pids.push_back(static_cast<pid_t>(v));
  return pids;
}

std::string fd_path(pid_t pid, int fd) { return "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd); }

std::optional<Status> read_status(pid_t pid) {
  std::string text;
  try {
    text = read_file("/proc/" + std::to_string(pid) + "/status");
  } catch (const OsError&) {
    return std::nullopt;
  }
  Status st;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value[0] == ' ' || value[0] == '\t')) value.remove_prefix(1);
    if (key == "Name") st.name = std::string(value);
    else if (key == "State" && !value.empty()) st.state = value[0];
    else if (key == "Tgid") st.tgid = static_cast<pid_t>(std::atol(std::string(value).c_str()));
    else if (key == "TracerPid") st.tracer_pid = static_cast<pid_t>(std::atol(std::string(value).c_str()));
    else if (key == "Kthread") st.kernel_thread = value == "1";
  }
  // Older kernels have no Kthread line: kernel threads have no memory map.
  if (!st.kernel_thread && st.state != 'Z' && st.state != 'X' && text.find("VmSize:") == std::string::npos &&
      pid != 1) {
    st.kernel_thread = true;
  }
  return st;
}

}  // namespace flakelab::base::procfs
