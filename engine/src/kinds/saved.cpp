// Files whose contents go into the image (saved_files.h): regular files unlinked
// while open, memfds, shared anonymous memory. Each description is recorded like a
// file at a path (the path is for people); the object itself becomes a
// pb::SavedFile of the process's table, and restore opens every description from
// the recreated object (SavedFiles, the kind's tree table).
#include "../saved_files.h"
#include "path_file.h"

namespace flakelab::engine {
namespace {

class SavedKind : public PathFileKind {
 public:
  SavedKind() : PathFileKind(pb::FILE_SAVED, /*by_path=*/false) {}
  bool matches(const FdProbe& fd) const override { return is_saved_fd(fd.link, fd.st); }
  // Sizes and kinds are checked with the mappings (check_saved_files()).
  std::string dump_table(const FdScan& scan, pb::Process& out) const override {
    for (size_t i = 0; i < scan.files.size(); ++i)
      if (scan.files[i].kind == this)
        collect_saved_fd(scan.pid, scan.files[i].probe.fd, static_cast<int>(scan.first_file + i), out);
    return "";
  }
  compel::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // SavedFiles
  std::unique_ptr<TreeTable> tree_table() const override { return std::make_unique<SavedFiles>(); }
};

}  // namespace

const FileKindModule& saved_kind() {
  static const SavedKind kind;
  return kind;
}

}  // namespace flakelab::engine
