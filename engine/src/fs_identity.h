// Whose permissions the restorer opens an image's files with. Restore runs as
// root; a file the dumped process could not have opened must not be handed to
// the restored one, so image-named paths are opened with the process's recorded
// fsuid, fsgid and supplementary groups. Those are per-thread in the kernel, but
// glibc's setfsuid/setgroups wrappers may apply them to every thread of the
// process: the guard uses the raw system calls, so only the calling thread
// changes, and it changes back when the guard ends.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct FsIdentity {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  std::vector<gid_t> groups;
  bool operator==(const FsIdentity&) const = default;
};

// The calling thread's fs identity.
FsIdentity current_fs_identity();
// The fs identity of `pid` from /proc/PID/status (Uid/Gid fourth field, Groups).
// Throws EngineError naming the file.
FsIdentity read_fs_identity(pid_t pid);
// The image's record of it: `p.fs_identity`, or nothing if the image has none.
std::optional<FsIdentity> recorded_fs_identity(const pb::Process& p);
void record_fs_identity(const FsIdentity& id, pb::Process& p);

// Switches the calling thread to `id` (nothing if empty or already the
// thread's) for its lifetime. The
// switch needs CAP_SETUID/CAP_SETGID (root restores); dropping to a non-zero fsuid
// also drops the file capabilities (CAP_DAC_OVERRIDE...) from this thread's
// effective set until it switches back. Throws EngineError naming `what` if the
// kernel does not take the identity.
class FsIdentityScope {
 public:
  FsIdentityScope(const std::optional<FsIdentity>& id, const std::string& what);
  ~FsIdentityScope();
  FsIdentityScope(const FsIdentityScope&) = delete;
  FsIdentityScope& operator=(const FsIdentityScope&) = delete;

 private:
  std::optional<FsIdentity> saved_;
};

}  // namespace flakelab::engine
