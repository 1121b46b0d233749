// Sole owner of a temporary directory: created with mkdtemp, removed with everything
// under it when the owner goes away.
#pragma once

#include <string>

namespace flakelab::base {

class TempDir {
 public:
  // mkdtemp("<parent>/<prefix>XXXXXX"); `parent` "" means $TMPDIR if set, else /dev/shm
  // if it is a writable tmpfs (creating and removing files there is ~0.1 ms cheaper than
  // on ext4, which counts for a directory per trial), else /tmp. Throws OsError.
  TempDir(const std::string& parent, const std::string& prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace flakelab::base
