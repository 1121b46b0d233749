// A regular file (saved.cpp takes the unlinked ones: listed before this one).
#include "path_file.h"

namespace flakelab::engine {
namespace {

class RegularKind : public PathFileKind {
 public:
  RegularKind() : PathFileKind(pb::FILE_REGULAR, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return S_ISREG(fd.st.st_mode) && is_path_link(fd.link); }
};

}  // namespace

const FileKindModule& regular_kind() {
  static const RegularKind kind;
  return kind;
}

}  // namespace flakelab::engine
