#include "path_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fs_identity.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

bool is_path_link(const std::string& link) { return !link.empty() && link[0] == '/'; }

std::string PathFileKind::check(const FdProbe& fd) const {
  struct stat by_path;
  if (by_path_ && (ends_with(fd.link, " (deleted)") || ::stat(fd.link.c_str(), &by_path) != 0 ||
                   by_path.st_ino != fd.st.st_ino || by_path.st_dev != fd.st.st_dev))
    return "the file is not reachable by its path (renamed or replaced, or a removed FIFO)";
  if (fd.info.flags() & O_PATH) return "O_PATH descriptors are not supported yet";
  return "";
}

std::string PathFileKind::dump(const FdProbe& fd, pb::File& f) const {
  if (std::string why = check(fd); !why.empty()) return why;
  f.set_kind(kind());
  f.set_path(fd.link);
  f.set_flags(fd.info.flags() & ~static_cast<uint32_t>(O_CLOEXEC));
  f.set_pos(fd.info.pos());
  f.set_inode(fd.st.st_ino);
  f.set_rdev(kind() == pb::FILE_CHARDEV ? fd.st.st_rdev : 0);
  f.set_dev(fd.st.st_dev);
  f.set_mode(fd.st.st_mode & 07777);
  if (S_ISREG(fd.st.st_mode)) f.set_size(static_cast<uint64_t>(fd.st.st_size));
  return "";
}

ExpectedFile expected_file(const pb::File& f) {
  ExpectedFile e;
  switch (f.kind()) {
    case pb::FILE_REGULAR: e.type = S_IFREG; break;
    case pb::FILE_DIRECTORY: e.type = S_IFDIR; break;
    case pb::FILE_CHARDEV: e.type = S_IFCHR; break;
    case pb::FILE_FIFO: e.type = S_IFIFO; break;
    default: throw EngineError("file kind " + pb::FileKind_Name(f.kind()) + " is not opened by path");
  }
  e.inode = f.inode();
  e.dev = f.dev();
  e.rdev = f.rdev();
  // Images from before dev/mode/size were recorded have dev 0 (no real device
  // number is 0 for a path file): then mode and size are not known either.
  e.mode = f.mode();
  e.mode_recorded = f.dev() != 0;
  // A description open for writing may have grown or shrunk since the dump (the
  // process itself, left running, or a sibling writer): only read-only ones must
  // find the size they had.
  e.size = f.size();
  e.size_recorded = f.dev() != 0 && f.kind() == pb::FILE_REGULAR && (f.flags() & O_ACCMODE) == O_RDONLY;
  return e;
}

base::UniqueFd PathFileKind::open(const pb::File& f, OpenContext& ctx) const {
  std::string what = "restore pid " + std::to_string(ctx.process.pid()) + ": open";
  base::UniqueFd fd;
  {
    FsIdentityScope as_owner(ctx.opener, what + " " + f.path());
    fd = open_image_path(f.path(), static_cast<int>(f.flags()), expected_file(f), what);
  }
  what += " " + f.path();
  if (f.kind() != pb::FILE_CHARDEV && f.pos() != 0 &&
      lseek(fd.get(), static_cast<off_t>(f.pos()), SEEK_SET) != static_cast<off_t>(f.pos()))
    throw_errno(what + ": lseek to " + std::to_string(f.pos()));
  return dup_above(fd.get(), ctx.min_fd, what);
}

}  // namespace flakelab::engine
