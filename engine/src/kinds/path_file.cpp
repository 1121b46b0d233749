#include "path_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
  return "";
}

base::UniqueFd PathFileKind::open(const pb::File& f, OpenContext& ctx) const {
  std::string what = "restore pid " + std::to_string(ctx.process.pid()) + ": open " + f.path();
  base::UniqueFd fd(::open(f.path().c_str(), static_cast<int>(f.flags()) | O_CLOEXEC | O_NOCTTY));
  if (!fd) throw_errno(what);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno("fstat " + f.path());
  if (st.st_ino != f.inode() || (f.kind() == pb::FILE_CHARDEV && st.st_rdev != f.rdev()))
    throw EngineError(what + ": the file was replaced since the dump");
  if (f.kind() != pb::FILE_CHARDEV && f.pos() != 0 &&
      lseek(fd.get(), static_cast<off_t>(f.pos()), SEEK_SET) != static_cast<off_t>(f.pos()))
    throw_errno(what + ": lseek to " + std::to_string(f.pos()));
  return dup_above(fd.get(), ctx.min_fd, what);
}

}  // namespace flakelab::engine
