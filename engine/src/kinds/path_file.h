// What the kinds that live at a path share (regular files, directories, character
// devices, FIFOs, saved files): dump records path, flags, offset and inode; restore
// opens the path and checks the inode.
#pragma once

#include "../safe_open.h"
#include "kind.h"

namespace flakelab::engine {

class PathFileKind : public FileKindModule {
 public:
  // `by_path`: the file must still be the one at its path (a saved file's
  // contents are in the image, so its path may be gone).
  PathFileKind(pb::FileKind kind, bool by_path) : FileKindModule(kind), by_path_(by_path) {}
  std::string check(const FdProbe& fd) const override;
  std::string dump(const FdProbe& fd, pb::File& f) const override;
  base::UniqueFd open(const pb::File& f, OpenContext& ctx) const override;

 private:
  bool by_path_;
};

// A link to a file in the file system ("/..."), not "pipe:[N]", "socket:[N]"...
bool is_path_link(const std::string& link);

// What the image says `f` (a file opened by path) is, for open_image_path().
ExpectedFile expected_file(const pb::File& f);

}  // namespace flakelab::engine
