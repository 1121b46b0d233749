// Files whose contents go into the image (saved_files.h): regular files unlinked
// while open, memfds, shared anonymous memory. Each description is recorded like a
// file at a path (the path is for people); the object itself becomes a
// pb::SavedFile of the process's table, and restore opens every description from
// the recreated object (SavedFiles, the kind's tree table).
#include <map>

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
  base::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // SavedFiles
  std::unique_ptr<TreeTable> tree_table() const override { return std::make_unique<SavedFiles>(); }
  // SavedFile.id tree-wide, by device and inode; the contents stay with the first holder.
  void share_tree(const std::vector<pb::Process*>& processes) const override {
    std::map<std::pair<dev_t, ino_t>, uint32_t> tree_ids;
    for (pb::Process* p : processes) {
      std::map<uint32_t, uint32_t> to_tree;  // this process's id -> tree-wide id
      for (auto& s : *p->mutable_saved_files()) {
        auto key = std::make_pair(static_cast<dev_t>(s.dev()), static_cast<ino_t>(s.inode()));
        auto [it, first] = tree_ids.emplace(key, static_cast<uint32_t>(tree_ids.size() + 1));
        to_tree[s.id()] = it->second;
        s.set_id(it->second);
        if (!first) s.clear_data();  // stored once, with the first holder
      }
      for (auto& f : *p->mutable_files())
        if (f.saved_file() != 0) f.set_saved_file(to_tree.at(f.saved_file()));
      for (auto& v : *p->mutable_vmas())
        if (v.saved_file() != 0) v.set_saved_file(to_tree.at(v.saved_file()));
    }
  }
};

}  // namespace

const FileKindModule& saved_kind() {
  static const SavedKind kind;
  return kind;
}

}  // namespace flakelab::engine
