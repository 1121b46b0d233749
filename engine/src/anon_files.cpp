#include "anon_files.h"

#include <fcntl.h>

#include <cstdio>

#include "flakelab/engine/error.h"

namespace flakelab::engine {

std::string AnonInodeKind::check(const FdProbe& fd) const {
  pb::File scratch;  // the same reading as dump, before anything is frozen
  return record(fd, /*frozen=*/false, scratch);
}

std::string AnonInodeKind::record(const FdProbe& fd, bool frozen, pb::File& f) const {
  auto status = fd.info.number("flags", 8);
  if (!status) return "fdinfo has no readable flags";
  uint64_t flags = *status & ~static_cast<uint64_t>(O_CLOEXEC);  // per fd, kept in pb::Fd
  // Status flags set with F_SETFL beyond O_NONBLOCK (O_ASYNC needs an owner...)
  // would be lost.
  if ((flags & ~static_cast<uint64_t>(O_ACCMODE | O_NONBLOCK)) != 0 || (flags & O_ACCMODE) != O_RDWR) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0%llo", static_cast<unsigned long long>(flags));
    return std::string("file flags ") + buf + " are not supported yet (only O_RDWR with or without O_NONBLOCK)";
  }
  f.set_kind(kind());
  f.set_flags(static_cast<uint32_t>(flags));
  return record_state(fd, frozen, f);
}

base::UniqueFd AnonInodeKind::open(const pb::File& f, OpenContext& ctx) const {
  std::string what = "restore pid " + std::to_string(ctx.process.pid()) + ": " + pb::FileKind_Name(f.kind());
  base::UniqueFd fd = create(f, what);
  // Creation took the blocking mode it needed; now the saved one.
  if (fcntl(fd.get(), F_SETFL, (f.flags() & O_NONBLOCK) ? O_NONBLOCK : 0) != 0) throw_errno(what + ": F_SETFL");
  return dup_above(fd.get(), ctx.min_fd, what);
}

const AnonInodeKind* anon_inode_kind_for_link(const std::string& link) {
  for (const FileKindModule* m : file_kind_modules())
    if (auto* anon = dynamic_cast<const AnonInodeKind*>(m); anon && anon->link() == link) return anon;
  return nullptr;
}

}  // namespace flakelab::engine
