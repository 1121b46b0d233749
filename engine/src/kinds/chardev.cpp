// A character device (/dev/null, a tty...): reopened by path, its rdev checked.
#include <sys/sysmacros.h>

#include "path_file.h"

namespace flakelab::engine {
namespace {

class ChardevKind : public PathFileKind {
 public:
  ChardevKind() : PathFileKind(pb::FILE_CHARDEV, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return S_ISCHR(fd.st.st_mode) && is_path_link(fd.link); }
  // Reopening by path is right for a device, wrong for these two: /dev/ptmx makes
  // a new pty (the saved one's slave, buffers and settings are lost) and /dev/tty
  // opens the restorer's controlling terminal.
  std::string check(const FdProbe& fd) const override {
    const unsigned major_nr = major(fd.st.st_rdev), minor_nr = minor(fd.st.st_rdev);
    if (major_nr == 5 && minor_nr == 2)
      return "a pseudo-terminal master (ptmx): ptys are not restored yet (reopening would make a new pty)";
    if (major_nr == 5 && minor_nr == 0)
      return "the controlling terminal (/dev/tty): terminals are not restored yet";
    return PathFileKind::check(fd);
  }
};

}  // namespace

const FileKindModule& chardev_kind() {
  static const ChardevKind kind;
  return kind;
}

}  // namespace flakelab::engine
