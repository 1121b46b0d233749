#include "files.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flakelab/compel/proc.h"
#include "flakelab/engine/error.h"
#include "kinds/kind.h"

namespace flakelab::engine {
namespace {

// The fd table of `pid`: each open file description once (the first fd holding
// it, with its kind's module), and each fd with the index of its description.
struct FdTable {
  FdScan scan;
  struct Fd {
    int fd;
    uint32_t file;  // index in scan.files
    bool cloexec;   // FD_CLOEXEC is per fd; fdinfo shows it as O_CLOEXEC
  };
  std::vector<Fd> fds;
};

// Identity is decided here, for every kind alike: the same object (dev, inode)
// reached through the same open file description.
FdTable scan_fds(pid_t pid, const std::vector<pid_t>& tree) {
  FdTable t;
  t.scan.pid = pid;
  t.scan.tree = tree;
  for (int fd : compel::proc::list_fds(pid)) {
    std::optional<FdProbe> probe = probe_fd(pid, fd);
    if (!probe) continue;
    uint32_t index = static_cast<uint32_t>(t.scan.files.size());
    for (uint32_t i = 0; i < t.scan.files.size(); ++i) {
      const FdProbe& seen = t.scan.files[i].probe;
      if (seen.st.st_dev == probe->st.st_dev && seen.st.st_ino == probe->st.st_ino &&
          syscall(SYS_kcmp, pid, pid, KCMP_FILE, seen.fd, fd) == 0) {
        index = i;
        break;
      }
    }
    t.fds.push_back({fd, index, (probe->info.flags() & O_CLOEXEC) != 0});
    if (index == t.scan.files.size()) {
      const FileKindModule* kind = match_file_kind(*probe);
      t.scan.files.push_back({std::move(*probe), kind});
    }
  }
  return t;
}

std::string unsupported(const ScannedFile& s) {
  return s.probe.where() + ": this kind of file is not supported yet";
}

}  // namespace

std::string check_files(pid_t pid, const std::vector<pid_t>& tree) {
  FdTable t = scan_fds(pid, tree);
  for (const ScannedFile& s : t.scan.files) {
    if (!s.kind) return unsupported(s);
    if (std::string why = s.kind->check(s.probe); !why.empty()) return s.probe.where() + ": " + why;
    // fdinfo lists the POSIX, flock, OFD locks and leases held through this fd:
    // restore would reopen the file without them.
    if (auto lock = s.probe.info.text("lock"))
      return s.probe.where() + ": holds a file lock (" + std::string(*lock) + "): file locks and leases are not restored yet";
  }
  for (const FileKindModule* kind : file_kind_modules())
    if (std::string why = kind->check_table(t.scan); !why.empty()) return why;
  return "";
}

std::string collect_files(pid_t pid, pb::Process& out, const std::vector<pid_t>& tree) {
  FdTable t = scan_fds(pid, tree);
  uint32_t first = static_cast<uint32_t>(out.files_size());
  t.scan.first_file = first;
  for (const ScannedFile& s : t.scan.files) {
    if (!s.kind) return unsupported(s);
    if (std::string why = s.kind->dump(s.probe, *out.add_files()); !why.empty()) return s.probe.where() + ": " + why;
  }
  for (const FdTable::Fd& fd : t.fds) {
    auto* d = out.add_fds();
    d->set_fd(static_cast<uint32_t>(fd.fd));
    d->set_file(first + fd.file);
    d->set_cloexec(fd.cloexec);
  }
  for (const FileKindModule* kind : file_kind_modules())
    if (std::string why = kind->dump_table(t.scan, out); !why.empty()) return why;
  return "";
}

std::vector<base::UniqueFd> reopen_files(const pb::Process& p, int min_fd,
                                         const std::vector<std::optional<FsIdentity>>& openers) {
  std::vector<base::UniqueFd> out;
  OpenContext ctx(p, min_fd);
  for (const auto& f : p.files()) {
    const size_t i = out.size();
    ctx.opener = i < openers.size() ? openers[i] : recorded_fs_identity(p);
    const FileKindModule* kind = file_kind_module(f.kind());
    if (!kind)
      throw EngineError("restore pid " + std::to_string(p.pid()) + ": no module for file kind " +
                        pb::FileKind_Name(f.kind()));
    out.push_back(kind->open(f, ctx));
  }
  return out;
}

}  // namespace flakelab::engine
