#include "saved_files.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "flakelab/compel/proc.h"
#include "flakelab/engine/error.h"
#include "safe_open.h"
#include "saved_image.h"

namespace flakelab::engine {
namespace {

// Linux >= 6.3; Debian bookworm's headers predate them.
constexpr unsigned kMfdNoexecSeal = 0x8U;
constexpr unsigned kMfdExec = 0x10U;
constexpr int kSealExec = 0x20;
constexpr long kSecretmemMagic = 0x5345434d;

const std::string kDeleted = " (deleted)";
const std::string kMemfdPrefix = "/memfd:";

bool starts_with(const std::string& s, const std::string& head) { return s.rfind(head, 0) == 0; }
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// A saved-content file as dump sees it, through a descriptor of our own.
struct Object {
  base::UniqueFd fd;
  struct stat st {};
  pb::SavedFileKind kind = pb::SAVED_UNKNOWN;
  std::string path;  // SAVED_UNLINKED: the path before the unlink; SAVED_MEMFD: the name
};

// Opens `proc_path` (/proc/PID/fd/N or /proc/PID/map_files/A-B) and tells what
// the file is. Returns "" with `out` filled, or why it cannot be stored.
std::string open_object(const std::string& proc_path, const std::string& link, Object& out) {
  out.fd.reset(::open(proc_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!out.fd) return "cannot open " + proc_path + " to read its contents: " + std::strerror(errno);
  struct statfs fs;
  if (fstat(out.fd.get(), &out.st) != 0 || fstatfs(out.fd.get(), &fs) != 0)
    return "cannot stat " + proc_path + ": " + std::strerror(errno);
  if (!S_ISREG(out.st.st_mode)) return "not a regular file";
  bool tmpfs = fs.f_type == static_cast<long>(TMPFS_MAGIC);
  if (fs.f_type == static_cast<long>(HUGETLBFS_MAGIC))
    return "files on hugetlbfs (incl. MAP_HUGETLB shared memory and MFD_HUGETLB memfds) are not supported yet";
  if (fs.f_type == kSecretmemMagic) return "memfd_secret() memory cannot be read and is not supported";
  if (starts_with(link, kMemfdPrefix) && ends_with(link, kDeleted) && tmpfs) {
    out.kind = pb::SAVED_MEMFD;
    out.path = link.substr(kMemfdPrefix.size(), link.size() - kMemfdPrefix.size() - kDeleted.size());
  } else if (link == "/dev/zero" + kDeleted && tmpfs) {
    out.kind = pb::SAVED_SHARED_ANON;
  } else if (out.st.st_nlink > 0) {
    return "the file is not reachable by its path but still has links elsewhere (not supported yet)";
  } else if (!ends_with(link, kDeleted) || link.size() <= kDeleted.size() + 1) {
    return "the file has no links and no path to recreate it in";
  } else {
    out.kind = pb::SAVED_UNLINKED;
    out.path = link.substr(0, link.size() - kDeleted.size());
    if (out.path.size() > ImageLimits::kMaxPath) return "its path is too long";
  }
  if (static_cast<uint64_t>(out.st.st_size) > SavedFileLimits::kMaxFileSize)
    return "its size of " + std::to_string(out.st.st_size) + " bytes exceeds the limit of " +
           std::to_string(SavedFileLimits::kMaxFileSize);
  return "";
}

struct Range {
  uint64_t offset;
  uint64_t length;
};

// The parts of the file that hold data (SEEK_DATA/SEEK_HOLE: never-written pages
// of shmem and holes of sparse files are left out). Stops early once more than
// `limit` bytes were found. Throws EngineError on lseek failure.
std::vector<Range> data_ranges(int fd, uint64_t size, uint64_t limit, const std::string& what, uint64_t* total) {
  std::vector<Range> out;
  *total = 0;
  uint64_t pos = 0;
  while (pos < size && *total <= limit) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;
    if (data < 0) throw_errno(what + ": lseek SEEK_DATA");
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) throw_errno(what + ": lseek SEEK_HOLE");
    uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
    if (end <= static_cast<uint64_t>(data)) break;
    out.push_back({static_cast<uint64_t>(data), end - static_cast<uint64_t>(data)});
    *total += end - static_cast<uint64_t>(data);
    pos = end;
  }
  return out;
}

// "" if the object's stored contents fit the per-file limit and `*total_so_far`
// (updated) the limit for all of them.
std::string check_size(const Object& o, const std::string& what, uint64_t* total_so_far) {
  uint64_t stored = 0;
  auto ranges = data_ranges(o.fd.get(), static_cast<uint64_t>(o.st.st_size), SavedFileLimits::kMaxFileBytes, what, &stored);
  if (stored > SavedFileLimits::kMaxFileBytes)
    return "the file holds more than " + mib(SavedFileLimits::kMaxFileBytes) +
           " of data, more than an image stores per file (SavedFileLimits::kMaxFileBytes)";
  if (ranges.size() > static_cast<size_t>(SavedFileLimits::kMaxRuns))
    return "the file's data is split into more than " + std::to_string(SavedFileLimits::kMaxRuns) + " runs";
  *total_so_far += stored;
  if (*total_so_far > SavedFileLimits::kMaxTotalBytes)
    return "together with the files before it, more than " + mib(SavedFileLimits::kMaxTotalBytes) +
           " of unlinked-file, memfd and shared-memory data (SavedFileLimits::kMaxTotalBytes)";
  return "";
}

// The id of the SavedFile for `o` in `p`, storing it first if it is new.
uint32_t save_object(pb::Process& p, const Object& o, const std::string& what) {
  for (const auto& f : p.saved_files())
    if (f.dev() == o.st.st_dev && f.inode() == o.st.st_ino) return f.id();
  uint64_t total = 0;
  for (const auto& f : p.saved_files())
    for (const auto& r : f.data()) total += r.data().size();
  if (std::string why = check_size(o, what, &total); !why.empty()) throw EngineError(what + ": " + why);
  uint64_t stored = 0;
  auto ranges = data_ranges(o.fd.get(), static_cast<uint64_t>(o.st.st_size), SavedFileLimits::kMaxFileBytes, what, &stored);
  auto* f = p.add_saved_files();
  f->set_id(static_cast<uint32_t>(p.saved_files_size()));
  f->set_kind(o.kind);
  f->set_path(o.path);
  f->set_mode(o.st.st_mode & 07777);
  f->set_uid(o.st.st_uid);
  f->set_gid(o.st.st_gid);
  f->set_size(static_cast<uint64_t>(o.st.st_size));
  f->set_dev(o.st.st_dev);
  f->set_inode(o.st.st_ino);
  f->set_atime_sec(o.st.st_atim.tv_sec);
  f->set_atime_nsec(static_cast<uint32_t>(o.st.st_atim.tv_nsec));
  f->set_mtime_sec(o.st.st_mtim.tv_sec);
  f->set_mtime_nsec(static_cast<uint32_t>(o.st.st_mtim.tv_nsec));
  if (o.kind == pb::SAVED_MEMFD) {
    int seals = fcntl(o.fd.get(), F_GET_SEALS);
    if (seals < 0) throw_errno(what + ": F_GET_SEALS");
    f->set_seals(static_cast<uint32_t>(seals));
  }
  for (const Range& r : ranges) {
    auto* run = f->add_data();
    run->set_offset(r.offset);
    std::string* buf = run->mutable_data();
    buf->resize(r.length);
    size_t done = 0;
    while (done < r.length) {
      ssize_t n = ::pread(o.fd.get(), buf->data() + done, r.length - done, static_cast<off_t>(r.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(what + ": pread at " + std::to_string(r.offset + done));
      if (n == 0) throw EngineError(what + ": the file shrank while being read");
      done += static_cast<size_t>(n);
    }
  }
  return f->id();
}

std::string map_files_path(pid_t pid, const procfs::MapEntry& m) {
  char buf[96];
  snprintf(buf, sizeof(buf), "/proc/%d/map_files/%llx-%llx", pid, static_cast<unsigned long long>(m.start),
           static_cast<unsigned long long>(m.end));
  return buf;
}

// A new file without a name, made where `path` was: created at `path` itself and
// unlinked at once (so /proc/PID/fd shows "path (deleted)" as before); if that
// name is taken again, O_TMPFILE in its directory, or where the filesystem lacks
// that, a fresh name unlinked at once. The path is the image's (untrusted): it
// must be normalised and its directory is reached without symbolic links; the
// file is created in that directory only (O_EXCL, never over an existing name).
base::UniqueFd create_unlinked(const std::string& path, const std::string& what) {
  if (std::string why = image_path_problem(path); !why.empty()) throw EngineError(what + ": refused: " + why);
  size_t slash = path.rfind('/');
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  ExpectedFile a_directory;
  a_directory.type = S_IFDIR;
  base::UniqueFd dir_fd = lookup_image_path(dir, a_directory, what + ": open the directory");
  auto create_and_unlink = [&](const std::string& name) {
    const std::string in_dir = name.substr(name.rfind('/') + 1);
    base::UniqueFd fd(::openat(dir_fd.get(), in_dir.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd && ::unlinkat(dir_fd.get(), in_dir.c_str(), 0) != 0) throw_errno(what + ": unlink " + name + " (just created)");
    return fd;
  };
  base::UniqueFd fd = create_and_unlink(path);
  if (fd) return fd;
  if (errno != EEXIST) throw_errno(what + ": create " + path);
  fd.reset(::openat(dir_fd.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) throw_errno(what + ": O_TMPFILE in " + dir);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = (dir == "/" ? "" : dir) + "/.flakelab-unlinked-" + std::to_string(getpid()) + "-" +
                       std::to_string(attempt);
    fd = create_and_unlink(name);
    if (fd) return fd;
    if (errno != EEXIST) throw_errno(what + ": create " + name);
  }
  throw EngineError(what + ": no free temporary name in " + dir);
}

// The restorer's own MAP_SHARED|MAP_ANONYMOUS object of `size` bytes, as a file:
// mapped from it, the target's mappings read "/dev/zero (deleted)" as before.
base::UniqueFd create_shared_anon(uint64_t size, const std::string& what) {
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) throw_errno(what + ": mmap shared anonymous " + std::to_string(size) + " bytes");
  procfs::MapEntry m;
  m.start = reinterpret_cast<uint64_t>(addr);
  m.end = m.start + size;
  base::UniqueFd fd(::open(map_files_path(getpid(), m).c_str(), O_RDWR | O_CLOEXEC));
  int err = errno;
  munmap(addr, size);
  if (!fd) throw_errno(what + ": open " + map_files_path(getpid(), m), err);
  return fd;
}

}  // namespace

bool is_saved_mapping(const procfs::MapEntry& m) {
  return m.inode != 0 && starts_with(m.path, "/") && ends_with(m.path, kDeleted) && !starts_with(m.path, "/SYSV");
}

bool is_saved_fd(const std::string& link, const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink == 0 && starts_with(link, "/");
}

std::string check_saved_files(pid_t pid, const std::vector<procfs::MapEntry>& maps) {
  std::string base = "/proc/" + std::to_string(pid);
  // Its mappings could be stored, but restore opens the exe link by path.
  if (std::string exe = procfs::read_link(base + "/exe"); ends_with(exe, kDeleted))
    return "pid " + std::to_string(pid) + ": its executable " + exe + " was deleted or replaced (not supported yet)";
  std::map<std::pair<dev_t, ino_t>, bool> seen;
  uint64_t total = 0;
  auto check = [&](const std::string& proc_path, const std::string& link, const std::string& where) -> std::string {
    Object o;
    if (std::string why = open_object(proc_path, link, o); !why.empty()) return where + ": " + why;
    if (!seen.emplace(std::make_pair(o.st.st_dev, o.st.st_ino), true).second) return "";
    if (std::string why = check_size(o, where, &total); !why.empty()) return where + ": " + why;
    return "";
  };
  for (int fd : compel::proc::list_fds(pid)) {
    std::string path = base + "/fd/" + std::to_string(fd);
    struct stat st;
    std::string link;
    try {
      link = procfs::read_link(path);
    } catch (const EngineError&) {
      continue;  // closed meanwhile
    }
    if (::stat(path.c_str(), &st) != 0 || !is_saved_fd(link, st)) continue;
    std::string where = "pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (" + link + ")";
    if (std::string why = check(path, link, where); !why.empty()) return why;
  }
  for (const auto& m : maps) {
    if (!is_saved_mapping(m)) continue;
    std::string where = "pid " + std::to_string(pid) + " mapping " + m.describe();
    if (std::string why = check(map_files_path(pid, m), m.path, where); !why.empty()) return why;
  }
  return "";
}

void collect_saved_fd(pid_t pid, int fd, int file, pb::Process& p) {
  auto* f = p.mutable_files(file);
  std::string what = "dump pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (" + f->path() + ")";
  Object o;
  if (std::string why = open_object(base::procfs::fd_path(pid, fd), f->path(), o);
      !why.empty())
    throw EngineError(what + ": " + why);
  f->set_saved_file(save_object(p, o, what));
}

void SavedFiles::merge(const pb::Process& p, const std::vector<int>&, pb::Process& merged) {
  for (const auto& f : p.saved_files())
    if (!merged_ids_.count(f.id())) holders_.emplace(f.id(), recorded_fs_identity(p));
  merge_by_id(p.saved_files(), *merged.mutable_saved_files(), merged_ids_);
  for (const auto& v : p.vmas())
    if (v.saved_file() != 0) *merged.add_vmas() = v;  // shared mappings may need read-only descriptions
}

void SavedFiles::open(TableOpen& ctx) {
  recreate(ctx.merged);
  open_descriptions(ctx.merged, ctx.open_files, ctx.min_fd);
}

void collect_saved_mappings(pid_t pid, const std::vector<procfs::MapEntry>& maps, pb::Process& p) {
  size_t next = 0;
  for (auto& v : *p.mutable_vmas()) {
    while (next < maps.size() && maps[next].start < v.start()) ++next;
    if (next == maps.size() || maps[next].start != v.start()) continue;
    const auto& m = maps[next];
    if (!is_saved_mapping(m)) continue;
    std::string what = "dump pid " + std::to_string(pid) + " mapping " + m.describe();
    Object o;
    if (std::string why = open_object(map_files_path(pid, m), m.path, o); !why.empty())
      throw EngineError(what + ": " + why);
    v.set_saved_file(save_object(p, o, what));
    v.set_path(m.path);
    v.set_pgoff(m.pgoff);
    v.set_inode(m.inode);
  }
}

namespace {

// Why the restorer, as root, must not make `f` as the image says: a set-user-ID
// (or executable set-group-ID) file owned by someone other than its holder's fs
// identity would let the restored process run the image's bytes as that owner
// (execveat on its fd). "" if none.
std::string set_id_problem(const pb::SavedFile& f, const std::optional<FsIdentity>& holder) {
  const bool setuid = f.mode() & S_ISUID;
  const bool setgid = (f.mode() & S_ISGID) && (f.mode() & S_IXGRP);
  if (!setuid && !setgid) return "";
  if (!holder) return "the image asks for a set-user/group-ID file but records no fs identity for its holder";
  if (setuid && f.uid() != holder->fsuid)
    return "set-user-ID file owned by uid " + std::to_string(f.uid()) + ", its holder's fsuid is " +
           std::to_string(holder->fsuid);
  const bool in_groups =
      f.gid() == holder->fsgid || std::find(holder->groups.begin(), holder->groups.end(), f.gid()) != holder->groups.end();
  if (setgid && !in_groups)
    return "set-group-ID file owned by gid " + std::to_string(f.gid()) + ", not a group of its holder";
  return "";
}

}  // namespace

void SavedFiles::recreate(const pb::Process& p) {
  for (const auto& f : p.saved_files()) {
    std::string what = "restore pid " + std::to_string(p.pid()) + ": saved file #" + std::to_string(f.id()) + " (" +
                       pb::SavedFileKind_Name(f.kind()) + " " + f.path() + ")";
    auto holder = holders_.find(f.id());
    if (std::string why = set_id_problem(f, holder != holders_.end() ? holder->second : recorded_fs_identity(p));
        !why.empty())
      throw EngineError(what + ": refused: " + why);
    base::UniqueFd fd;
    if (f.kind() == pb::SAVED_UNLINKED) {
      fd = create_unlinked(f.path(), what);
    } else if (f.kind() == pb::SAVED_MEMFD) {
      // Sealing is allowed so that the saved seals can be put back; an image
      // without F_SEAL_SEAL had it allowed, one with it gets it back below.
      // MFD_EXEC: mode 0777 and no F_SEAL_EXEC, both set below as saved. Older
      // kernels lack it (EINVAL); vm.memfd_noexec=2 forbids it (EACCES), and then
      // every memfd, the saved one too, had MFD_NOEXEC_SEAL.
      fd.reset(static_cast<int>(memfd_create(f.path().c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdExec)));
      if (!fd && errno == EINVAL) fd.reset(static_cast<int>(memfd_create(f.path().c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING)));
      if (!fd && errno == EACCES)
        fd.reset(static_cast<int>(memfd_create(f.path().c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdNoexecSeal)));
      if (!fd) throw_errno(what + ": memfd_create");
      unused_memfd_descriptions_.insert(f.id());
    } else {
      fd = create_shared_anon(f.size(), what);
    }
    if (f.kind() != pb::SAVED_SHARED_ANON && ftruncate(fd.get(), static_cast<off_t>(f.size())) != 0)
      throw_errno(what + ": ftruncate " + std::to_string(f.size()));
    for (const auto& run : f.data()) {
      size_t done = 0;
      while (done < run.data().size()) {
        ssize_t n = ::pwrite(fd.get(), run.data().data() + done, run.data().size() - done,
                             static_cast<off_t>(run.offset() + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw_errno(what + ": pwrite at " + std::to_string(run.offset() + done), n < 0 ? errno : EIO);
        done += static_cast<size_t>(n);
      }
    }
    if (f.kind() != pb::SAVED_SHARED_ANON) {
      struct stat st;
      if (fstat(fd.get(), &st) != 0) throw_errno(what + ": fstat");
      if ((st.st_uid != f.uid() || st.st_gid != f.gid()) && fchown(fd.get(), f.uid(), f.gid()) != 0)
        throw_errno(what + ": fchown " + std::to_string(f.uid()) + ":" + std::to_string(f.gid()));
      // After fchown, which drops set-id bits.
      if (fchmod(fd.get(), f.mode()) != 0) throw_errno(what + ": fchmod");
      // Last: writing the data set them to now (zdtm file_attr checks an unlinked file's mtime).
      if (f.atime_sec() != 0 || f.mtime_sec() != 0 || f.atime_nsec() != 0 || f.mtime_nsec() != 0) {
        if (f.atime_nsec() >= 1000000000 || f.mtime_nsec() >= 1000000000)
          throw EngineError(what + ": atime/mtime nanoseconds out of range");
        const timespec times[2] = {{f.atime_sec(), f.atime_nsec()}, {f.mtime_sec(), f.mtime_nsec()}};
        if (futimens(fd.get(), times) != 0) throw_errno(what + ": futimens");
      }
    }
    int early = static_cast<int>(f.seals()) & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | kSealExec);
    if (early != 0 && fcntl(fd.get(), F_ADD_SEALS, early) != 0) throw_errno(what + ": F_ADD_SEALS");
    fds_.emplace(f.id(), std::move(fd));
  }
  for (const auto& v : p.vmas()) {
    if (v.kind() != pb::VMA_SAVED_SHARED || v.maywrite() || read_only_.count(v.saved_file())) continue;
    std::string self = "/proc/self/fd/" + std::to_string(fd(v.saved_file()));
    base::UniqueFd ro(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ro) throw_errno("restore pid " + std::to_string(p.pid()) + ": saved file #" + std::to_string(v.saved_file()) +
                         ": open read-only as " + self);
    read_only_.emplace(v.saved_file(), std::move(ro));
  }
}

int SavedFiles::fd(uint32_t id) const { return fds_.at(id).get(); }

int SavedFiles::fd_for_mapping(const pb::Vma& v) const {
  if (v.kind() == pb::VMA_SAVED_SHARED && !v.maywrite()) return read_only_.at(v.saved_file()).get();
  return fd(v.saved_file());
}

void SavedFiles::open_descriptions(const pb::Process& p, std::vector<base::UniqueFd>& open_files, int min_fd) const {
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (f.kind() != pb::FILE_SAVED) continue;
    std::string what = "restore pid " + std::to_string(p.pid()) + ": open " + f.path();
    std::string self = "/proc/self/fd/" + std::to_string(fd(f.saved_file()));
    // Through /proc: a new open file description of the same (nameless) inode,
    // except for the first read-write one of a memfd, which gets memfd_create's:
    // a reopen for writing would count as a writer and make execveat() of the
    // memfd fail with ETXTBSY (CRIU's zdtm memfd04/05).
    base::UniqueFd desc;
    constexpr int kKernelLargefile = 0100000;  // fdinfo shows it; x86-64 glibc defines O_LARGEFILE as 0
    const int status_flags = static_cast<int>(f.flags()) & ~(O_ACCMODE | kKernelLargefile);
    if ((static_cast<int>(f.flags()) & O_ACCMODE) == O_RDWR && (status_flags & ~O_NONBLOCK) == 0 &&
        unused_memfd_descriptions_.erase(f.saved_file()) == 1) {
      desc.reset(fcntl(fd(f.saved_file()), F_DUPFD_CLOEXEC, 0));
      if (desc && fcntl(desc.get(), F_SETFL, status_flags) != 0) throw_errno(what + ": F_SETFL");
    } else {
      desc.reset(::open(self.c_str(), static_cast<int>(f.flags()) | O_CLOEXEC | O_NOCTTY));
    }
    if (!desc) throw_errno(what + " (as " + self + ")");
    if (f.pos() != 0 && lseek(desc.get(), static_cast<off_t>(f.pos()), SEEK_SET) != static_cast<off_t>(f.pos()))
      throw_errno(what + ": lseek to " + std::to_string(f.pos()));
    base::UniqueFd high(fcntl(desc.get(), F_DUPFD_CLOEXEC, min_fd));
    if (!high) throw_errno(what + ": F_DUPFD " + std::to_string(min_fd));
    open_files.at(static_cast<size_t>(i)) = std::move(high);
  }
}

void SavedFiles::seal_late(const pb::Process& p) const {
  for (const auto& f : p.saved_files()) {
    int late = static_cast<int>(f.seals()) & (F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
    if (late != 0 && fcntl(fd(f.id()), F_ADD_SEALS, late) != 0)
      throw_errno("restore pid " + std::to_string(p.pid()) + ": saved file #" + std::to_string(f.id()) + ": F_ADD_SEALS");
  }
}

}  // namespace flakelab::engine
