// Files that cannot be reopened by path, so their contents go into the image
// (pb::SavedFile): regular files unlinked while open, memfds, and the shmem object
// behind shared anonymous memory ("/dev/zero (deleted)"). Each object is stored
// once however many fds and mappings refer to it; only its data (SEEK_DATA) is
// read, through a descriptor of our own, so the process's offsets are untouched.
// Restore recreates each object once in the restorer, before clone3, so the
// target inherits it: fds reopen it (/proc/self/fd/N) and mappings map it.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"
#include "fs_identity.h"
#include "kinds/kind.h"
#include "proc_files.h"

namespace flakelab::engine {

// A mapping of such a file, judged by its name in /proc/PID/maps (SysV shared
// memory, "/SYSV... (deleted)", is not one: dump refuses it).
bool is_saved_mapping(const procfs::MapEntry& m);
// An open file of such kind: a regular file without links, reached through /proc/PID/fd.
bool is_saved_fd(const std::string& link, const struct stat& st);

// Before the process is touched: every such fd and mapping is a kind we can store
// and the contents to store are within SavedFileLimits. Returns "" or why not,
// naming the pid and the fd or mapping.
std::string check_saved_files(pid_t pid, const std::vector<procfs::MapEntry>& maps);

// With the process frozen: stores the object behind fd `fd` of `pid`, whose
// description is p.files(file), and sets its File.saved_file. Throws EngineError.
void collect_saved_fd(pid_t pid, int fd, int file, pb::Process& p);
// Sets Vma.saved_file (with path, pgoff, inode) for every mapping of such a file,
// storing the objects no fd referred to. Throws EngineError.
void collect_saved_mappings(pid_t pid, const std::vector<procfs::MapEntry>& maps, pb::Process& p);

// The restorer's copies of the image's saved files; for a tree, the saved kind's
// table (kinds/saved.cpp), which mappings use too (TreeFiles::saved()).
class SavedFiles : public TreeTable {
 public:
  // First, before the other files: the target maps these objects too.
  TablePhase phase() const override { return TablePhase::kBeforeFiles; }
  // The saved files of `p` and its mappings of them (which may need read-only descriptions).
  void merge(const pb::Process& p, const std::vector<int>& file_index, pb::Process& merged) override;
  // recreate(), then open_descriptions().
  void open(TableOpen& ctx) override;
  // Creates every SavedFile of `p`: data, size, owner, mode, and the seals that do
  // not stop the target from mapping it. Throws EngineError naming the file.
  void recreate(const pb::Process& p);
  int fd(uint32_t id) const;
  // What to map `v` (a mapping of a saved file) from: a read-only description if
  // the original could never become writable (no VM_MAYWRITE), so it still cannot.
  int fd_for_mapping(const pb::Vma& v) const;
  // For every FILE_SAVED file of `p`: a new open file description of its object
  // with the saved flags and offset, at a number >= min_fd, into open_files[i].
  void open_descriptions(const pb::Process& p, std::vector<base::UniqueFd>& open_files, int min_fd) const;
  // F_SEAL_FUTURE_WRITE and F_SEAL_SEAL, once the target has mapped everything
  // (the former forbids new writable shared mappings, the latter further seals).
  void seal_late(const pb::Process& p) const;

 private:
  std::map<uint32_t, base::UniqueFd> fds_;
  std::map<uint32_t, base::UniqueFd> read_only_;
  // memfds whose own read-write description (memfd_create's, which does not count
  // as a writer, so execveat() of the memfd works) has not been handed out yet.
  mutable std::set<uint32_t> unused_memfd_descriptions_;
  std::set<uint32_t> merged_ids_;  // for shared mappings without VM_MAYWRITE
  std::map<uint32_t, std::optional<FsIdentity>> holders_;  // SavedFile.id -> its first holder's fs identity
};

}  // namespace flakelab::engine
