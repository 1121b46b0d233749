#include "kind.h"

#include <fcntl.h>

#include "flakelab/engine/error.h"

namespace flakelab::engine {

#define FLAKELAB_FILE_KIND(value, module, shape, record) const FileKindModule& module##_kind();
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND

const std::vector<const FileKindModule*>& file_kind_modules() {
  static const std::vector<const FileKindModule*> modules{
#define FLAKELAB_FILE_KIND(value, module, shape, record) &module##_kind(),
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND
  };
  return modules;
}

const FileKindModule* file_kind_module(pb::FileKind kind) {
  for (const FileKindModule* m : file_kind_modules())
    if (m->kind() == kind) return m;
  return nullptr;
}

const FileKindModule* match_file_kind(const FdProbe& fd) {
  for (const FileKindModule* m : file_kind_modules())
    if (m->matches(fd)) return m;
  return nullptr;
}

base::UniqueFd dup_above(int fd, int min_fd, const std::string& what) {
  base::UniqueFd high(fcntl(fd, F_DUPFD_CLOEXEC, min_fd));
  if (!high) throw_errno(what + ": F_DUPFD " + std::to_string(min_fd));
  return high;
}

}  // namespace flakelab::engine
