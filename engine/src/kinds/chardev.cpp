// A character device (/dev/null, a tty...): reopened by path, its rdev checked.
#include "path_file.h"

namespace flakelab::engine {
namespace {

class ChardevKind : public PathFileKind {
 public:
  ChardevKind() : PathFileKind(pb::FILE_CHARDEV, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return S_ISCHR(fd.st.st_mode) && is_path_link(fd.link); }
};

}  // namespace

const FileKindModule& chardev_kind() {
  static const ChardevKind kind;
  return kind;
}

}  // namespace flakelab::engine
