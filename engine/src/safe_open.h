// Opening a path an image names. Images are untrusted input (engine/README.md,
// "Threat model"): restore runs as root, so a path is checked for shape first,
// looked up without following any symlink or /proc magic link and without opening
// the object (O_PATH), compared with what the image says it is (type, inode,
// device, mode, size), and only then opened, non-blocking (a FIFO where a file
// was dumped neither hangs nor is read). The caller picks whose permissions the
// open uses (FsIdentityScope, fs_identity.h).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "flakelab/base/unique_fd.h"

namespace flakelab::engine {

// Why `path` is not an absolute, normalised path (no "." or ".." component, no
// empty component, no trailing slash, no NUL, at most ImageLimits::kMaxPath
// bytes), or "".
std::string image_path_problem(const std::string& path);

// What the image says the object at a path is. Zero fields were not recorded
// (older images) and are not checked.
struct ExpectedFile {
  mode_t type = 0;     // S_IFREG, S_IFDIR, S_IFCHR or S_IFIFO: always checked
  uint64_t inode = 0;
  uint64_t dev = 0;
  uint64_t rdev = 0;   // S_IFCHR: checked whatever its value
  uint32_t mode = 0;   // permission bits (07777); 0 with `mode_recorded` false: not checked
  bool mode_recorded = false;
  uint64_t size = 0;   // checked only if `size_recorded`
  bool size_recorded = false;
};

// How `st` differs from `expect` ("inode 12, image has 34"), or "".
std::string identity_mismatch(const struct stat& st, const ExpectedFile& expect);

// The object at `path`, checked against `expect`, opened with `flags` (open(2)
// flags an open file description keeps: O_CREAT, O_TRUNC, O_EXCL, O_TMPFILE and
// O_PATH are refused) plus O_CLOEXEC and O_NOCTTY; O_NONBLOCK only if `flags`
// has it. `what` starts every error ("restore pid 7: open"); errors name the path
// and what differed. Throws EngineError.
base::UniqueFd open_image_path(const std::string& path, int flags, const ExpectedFile& expect, const std::string& what);

// Only the lookup and the checks: an O_PATH descriptor of the object (for a
// working directory, or to check a path before something else is done there).
base::UniqueFd lookup_image_path(const std::string& path, const ExpectedFile& expect, const std::string& what);

}  // namespace flakelab::engine
