#include "files.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "flakelab/compel/proc.h"
#include "anon_files.h"
#include "flakelab/engine/error.h"
#include "fifos.h"
#include "pipes.h"
#include "proc_files.h"
#include "saved_image.h"
#include "saved_files.h"
#include "unix_sockets.h"

namespace flakelab::engine {
namespace {

struct FdInfo {
  uint64_t pos = 0;
  uint32_t flags = 0;
};

FdInfo read_fdinfo(pid_t pid, int fd) {
  std::istringstream in(procfs::read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
  FdInfo info;
  std::string key;
  while (in >> key) {
    if (key == "pos:") in >> info.pos;
    else if (key == "flags:") in >> std::oct >> info.flags >> std::dec;
    else in.ignore(1 << 20, '\n');
  }
  return info;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string collect_files(pid_t pid, pb::Process* out, const std::vector<pid_t>& tree) {
  std::string base = "/proc/" + std::to_string(pid) + "/fd/";
  struct Seen {
    int fd;
    dev_t dev;
    ino_t ino;
    uint32_t file;
  };
  std::vector<Seen> seen;
  struct Ends {
    int read = 0, write = 0;
    int some_fd = -1;
    dev_t dev = 0;
  };
  std::map<uint64_t, Ends> pipes;
  for (int fd : compel::proc::list_fds(pid)) {
    std::string where = "pid " + std::to_string(pid) + " fd " + std::to_string(fd);
    std::string link;
    struct stat st;
    try {
      link = procfs::read_link(base + std::to_string(fd));
    } catch (const EngineError&) {
      continue;  // closed meanwhile
    }
    if (::stat((base + std::to_string(fd)).c_str(), &st) != 0) continue;
    pb::FileKind kind = is_saved_fd(link, st) ? pb::FILE_SAVED  // contents go into the image
                        : is_fifo_fd(link, st) ? pb::FILE_FIFO
                        : S_ISREG(st.st_mode) ? pb::FILE_REGULAR
                        : S_ISDIR(st.st_mode) ? pb::FILE_DIRECTORY
                        : S_ISCHR(st.st_mode) ? pb::FILE_CHARDEV
                        : S_ISFIFO(st.st_mode) && link.rfind("pipe:[", 0) == 0 ? pb::FILE_PIPE
                                              : pb::FILE_UNKNOWN;
    if (is_socket_link(link)) {
      // One socket has one open file description: dup()s share its pb::File.
      uint32_t file = out ? static_cast<uint32_t>(out->files_size()) : 0;
      bool shared = false;
      for (const Seen& s : seen)
        if (s.dev == st.st_dev && s.ino == st.st_ino) {
          file = s.file;
          shared = true;
        }
      FdInfo info = read_fdinfo(pid, fd);
      if (!shared) {
        pb::File unused;
        if (std::string why = describe_socket_fd(pid, fd, st.st_ino, info.flags, out ? out->add_files() : &unused);
            !why.empty())
          return where + " (" + link + "): " + why;
      }
      seen.push_back({fd, st.st_dev, st.st_ino, file});
      if (!out) continue;
      auto* d = out->add_fds();
      d->set_fd(static_cast<uint32_t>(fd));
      d->set_file(file);
      d->set_cloexec(info.flags & O_CLOEXEC);
      continue;
    }
    if (pb::FileKind anon = anon_file_kind(link); anon != pb::FILE_UNKNOWN) {
      uint32_t file = out ? static_cast<uint32_t>(out->files_size()) : 0;
      bool shared = false;
      for (const Seen& s : seen) {
        if (s.dev == st.st_dev && s.ino == st.st_ino && syscall(SYS_kcmp, pid, pid, KCMP_FILE, s.fd, fd) == 0) {
          file = s.file;
          shared = true;
          break;
        }
      }
      if (!shared) {
        pb::File unused;  // the check alone reads the same fdinfo
        if (std::string why = describe_anon_file(pid, fd, anon, out != nullptr, out ? out->add_files() : &unused);
            !why.empty())
          return where + " (" + link + "): " + why;
      }
      seen.push_back({fd, st.st_dev, st.st_ino, file});
      if (!out) continue;
      auto* d = out->add_fds();
      d->set_fd(static_cast<uint32_t>(fd));
      d->set_file(file);
      d->set_cloexec(read_fdinfo(pid, fd).flags & O_CLOEXEC);
      continue;
    }
    if (kind == pb::FILE_PIPE) {
      FdInfo info = read_fdinfo(pid, fd);
      bool reads = (info.flags & O_ACCMODE) == O_RDONLY;
      uint32_t file = out ? static_cast<uint32_t>(out->files_size()) : 0;
      bool shared = false;
      for (const Seen& s : seen) {
        if (s.dev == st.st_dev && s.ino == st.st_ino && syscall(SYS_kcmp, pid, pid, KCMP_FILE, s.fd, fd) == 0) {
          file = s.file;
          shared = true;
          break;
        }
      }
      Ends& e = pipes[st.st_ino];
      if (!shared && ++(reads ? e.read : e.write) > 1)
        return where + " (" + link + "): a pipe end opened twice (not via dup) is not supported yet";
      e.some_fd = fd;
      e.dev = st.st_dev;
      seen.push_back({fd, st.st_dev, st.st_ino, file});
      if (!out) continue;
      if (!shared) {
        auto* f = out->add_files();
        f->set_kind(pb::FILE_PIPE);
        f->set_flags(info.flags & ~static_cast<uint32_t>(O_CLOEXEC));
        f->set_pipe_id(st.st_ino);
      }
      auto* d = out->add_fds();
      d->set_fd(static_cast<uint32_t>(fd));
      d->set_file(file);
      d->set_cloexec(info.flags & O_CLOEXEC);
      continue;
    }
    if (kind == pb::FILE_UNKNOWN || link.empty() || link[0] != '/')
      return where + " (" + link + "): this kind of file is not supported yet";
    struct stat by_path;
    if (kind != pb::FILE_SAVED &&
        (ends_with(link, " (deleted)") || ::stat(link.c_str(), &by_path) != 0 || by_path.st_ino != st.st_ino ||
         by_path.st_dev != st.st_dev))
      return where + " (" + link + "): the file is not reachable by its path (renamed or replaced, or a removed FIFO)";
    FdInfo info = read_fdinfo(pid, fd);
    if (info.flags & O_PATH) return where + " (" + link + "): O_PATH descriptors are not supported yet";
    if (!out) continue;
    uint32_t file = static_cast<uint32_t>(out->files_size());
    for (const Seen& s : seen) {
      if (s.dev == st.st_dev && s.ino == st.st_ino &&
          syscall(SYS_kcmp, pid, pid, KCMP_FILE, s.fd, fd) == 0) {
        file = s.file;
        break;
      }
    }
    if (file == static_cast<uint32_t>(out->files_size())) {
      auto* f = out->add_files();
      f->set_kind(kind);
      f->set_path(link);
      f->set_flags(info.flags & ~static_cast<uint32_t>(O_CLOEXEC));
      f->set_pos(info.pos);
      f->set_inode(st.st_ino);
      f->set_rdev(kind == pb::FILE_CHARDEV ? st.st_rdev : 0);
    }
    seen.push_back({fd, st.st_dev, st.st_ino, file});
    auto* d = out->add_fds();
    d->set_fd(static_cast<uint32_t>(fd));
    d->set_file(file);
    d->set_cloexec(info.flags & O_CLOEXEC);
  }
  for (const auto& [id, e] : pipes) {
    // A missing end closed by everyone is fine (restore keeps only the saved end);
    // one held by another process is not, until process trees are dumped.
    std::string link = "pipe:[" + std::to_string(id) + "]";
    if (e.read == 0 || e.write == 0)
      if (std::string holder = held_elsewhere(pid, link, e.dev, id, tree); !holder.empty())
        return "pid " + std::to_string(pid) + " fd " + std::to_string(e.some_fd) + " (" + link +
               "): the pipe is also open in another process (" + holder +
               "), outside the dumped process tree";
    if (out) *out->add_pipes() = snapshot_pipe(pid, e.some_fd, id);
  }
  if (std::string why = collect_fifos(pid, out, tree); !why.empty()) return why;
  if (out) collect_saved_fds(pid, *out);
  return "";
}

std::vector<compel::UniqueFd> reopen_files(const pb::Process& p, int min_fd) {
  std::vector<compel::UniqueFd> out;
  std::map<uint64_t, std::pair<compel::UniqueFd, compel::UniqueFd>> pipes;
  for (const auto& pipe : p.pipes()) pipes.emplace(pipe.id(), recreate_pipe(pipe, static_cast<pid_t>(p.pid())));
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (is_anon_file_kind(f.kind())) {
      out.push_back(create_anon_file(p, f, min_fd));
      continue;
    }
    if (is_saved_file_kind(f.kind()) || f.kind() == pb::FILE_UNIX_SOCKET) {
      out.emplace_back();  // opened by SavedFiles::open_descriptions() / reopen_fifos() / restore_unix_sockets()
      continue;
    }
    if (f.kind() == pb::FILE_PIPE) {
      std::string what = "restore pid " + std::to_string(p.pid()) + ": pipe:[" + std::to_string(f.pipe_id()) + "]";
      auto& ends = pipes.at(f.pipe_id());
      int end = (f.flags() & O_ACCMODE) == O_RDONLY ? ends.first.get() : ends.second.get();
      // Each end is one open file description: O_NONBLOCK belongs to it.
      if (fcntl(end, F_SETFL, static_cast<int>(f.flags() & O_NONBLOCK)) != 0) throw_errno(what + ": F_SETFL");
      compel::UniqueFd high(fcntl(end, F_DUPFD_CLOEXEC, min_fd));
      if (!high) throw_errno(what + ": F_DUPFD " + std::to_string(min_fd));
      out.push_back(std::move(high));
      continue;
    }
    std::string what = "restore pid " + std::to_string(p.pid()) + ": open " + f.path();
    compel::UniqueFd fd(::open(f.path().c_str(), static_cast<int>(f.flags()) | O_CLOEXEC | O_NOCTTY));
    if (!fd) throw_errno(what);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) throw_errno("fstat " + f.path());
    if (st.st_ino != f.inode() || (f.kind() == pb::FILE_CHARDEV && st.st_rdev != f.rdev()))
      throw EngineError(what + ": the file was replaced since the dump");
    if (f.kind() != pb::FILE_CHARDEV && f.pos() != 0 &&
        lseek(fd.get(), static_cast<off_t>(f.pos()), SEEK_SET) != static_cast<off_t>(f.pos()))
      throw_errno(what + ": lseek to " + std::to_string(f.pos()));
    compel::UniqueFd high(fcntl(fd.get(), F_DUPFD_CLOEXEC, min_fd));
    if (!high) throw_errno(what + ": F_DUPFD " + std::to_string(min_fd));
    out.push_back(std::move(high));
  }
  return out;
}

}  // namespace flakelab::engine
