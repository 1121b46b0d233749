// A directory.
#include "path_file.h"

namespace flakelab::engine {
namespace {

class DirectoryKind : public PathFileKind {
 public:
  DirectoryKind() : PathFileKind(pb::FILE_DIRECTORY, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return S_ISDIR(fd.st.st_mode) && is_path_link(fd.link); }
};

}  // namespace

const FileKindModule& directory_kind() {
  static const DirectoryKind kind;
  return kind;
}

}  // namespace flakelab::engine
