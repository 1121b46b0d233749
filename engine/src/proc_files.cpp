#include "proc_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "flakelab/engine/error.h"

namespace flakelab::engine::procfs {

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw_errno("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) throw_errno("readlink " + path);
  if (static_cast<size_t>(n) == sizeof(buf)) throw EngineError("readlink " + path + ": target too long");
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

std::vector<MapEntry> read_maps(pid_t pid, bool vm_flags) {
  std::string path = "/proc/" + std::to_string(pid) + (vm_flags ? "/smaps" : "/maps");
  std::string text = read_file(path);
  std::vector<MapEntry> maps;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    char c = line[0];
    bool header = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (header) {
      MapEntry e;
      unsigned long long start, end, off, inode;
      char perms[5] = {};
      int consumed = 0;
      unsigned dmaj, dmin;
      if (sscanf(line.c_str(), "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms, &off, &dmaj, &dmin, &inode,
                 &consumed) < 7)
        throw EngineError("parse " + path + ": unexpected line \"" + line + "\"");
      e.start = start;
      e.end = end;
      e.pgoff = off;
      e.inode = inode;
      e.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
      e.shared = perms[3] == 's';
      size_t p = static_cast<size_t>(consumed);
      while (p < line.size() && line[p] == ' ') ++p;
      e.path = line.substr(p);
      maps.push_back(std::move(e));
    } else if (line.rfind("VmFlags:", 0) == 0 && !maps.empty()) {
      std::istringstream flags(line.substr(8));
      std::string f;
      while (flags >> f) {
        if (f == "gd") maps.back().growsdown = true;
        if (f == "nr") maps.back().noreserve = true;
        if (f == "mw") maps.back().maywrite = true;
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
  if (close == std::string::npos) throw EngineError("parse " + path + ": no command name");
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> out;
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

}  // namespace flakelab::engine::procfs
