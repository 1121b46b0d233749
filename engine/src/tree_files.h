// Kernel objects shared by the processes of a tree, created once.
//
// Dump (share_tree_files): every open file description gets a tree-wide id,
// File.tree_file, equal in two processes exactly when kcmp(KCMP_FILE) says the
// fds are one description; records the files refer to get tree-wide ids too
// (Pipe.id is the pipe's inode already; Fifo.id and SavedFile.id are renumbered
// by inode), and only the first holder's record keeps the contents.
//
// Restore (TreeFiles): the files of every process are merged into one list, one
// entry per tree_file, and each kind's tree table (kinds/kind.h, TreeTable)
// merges the records they refer to by id (the first record of an id wins); the
// list is then opened phase by phase (TablePhase: saved files, every file's own
// open(), FIFOs, sockets last). The restored root inherits every object, and
// every process it creates inherits them from its parent; each then dup3()s its
// own fds into place and closes the rest. A new kind of file needs nothing here:
// a new table of records is its kind's TreeTable (its ids must be tree-wide: an
// inode, or renumbered in share_tree_files).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"
#include "fs_identity.h"
#include "saved_files.h"

namespace flakelab::engine {

// With every process of the tree frozen: sets File.tree_file, then each kind
// makes its records' ids tree-wide (FileKindModule::share_tree(): FIFOs, saved
// files, pipes). `processes` are the live processes in tree order. Throws EngineError.
void share_tree_files(const std::vector<pb::Process*>& processes);
// One fd number of each file of `p` (-1 if no fd refers to it).
std::vector<int> first_fds(const pb::Process& p);
// stat() through fd `fd` of `pid`: the file, not the link. Throws EngineError.
struct stat stat_fd(pid_t pid, int fd);

// With every process of the tree frozen and its files collected: what kinds
// collect for the whole tree (kinds' dump_tree(): unix sockets), then
// share_tree_files(). `processes`: the live processes, root first. Throws EngineError.
void dump_tree_files(const std::vector<pb::Process*>& processes, const DumpOptions& options);

class TreeTable;

class TreeFiles {
 public:
  TreeFiles();
  ~TreeFiles();
  // Opens every file of `processes` (live, in tree order) once, each at an fd
  // number above every saved fd of the tree. Throws EngineError.
  // `options` and `stats` (may be null) go to the kinds' tables (unix sockets).
  void open_all(const std::vector<const pb::Process*>& processes, const RestoreOptions& options, RestoreStats* stats);
  // The restorer's fd of `p.files(index)`.
  int file_fd(const pb::Process& p, uint32_t index) const;
  // The saved kind's table: what mappings of saved files map.
  const SavedFiles& saved() const;
  // `p` for restore_epoll_watches(): files whose description an earlier process
  // of the tree holds too are stripped of what that process sets up
  // (FileKindModule::strip_shared(): an epoll's watches).
  const pb::Process& epoll_view(const pb::Process& p) const;
  // F_SEAL_FUTURE_WRITE/F_SEAL_SEAL once every process has mapped everything.
  void seal_late() const;

 private:
  pb::Process merged_;
  std::vector<base::UniqueFd> open_files_;         // per merged_ file
  std::vector<std::optional<FsIdentity>> openers_;  // per merged_ file: its first holder's fs identity
  std::map<uint32_t, std::vector<int>> index_;       // pid -> merged_ index per file
  std::map<uint32_t, pb::Process> shared_views_;     // pid -> files/fds stripped by strip_shared()
  std::map<pb::FileKind, std::unique_ptr<TreeTable>> tables_;  // each kind's records of the tree
};

}  // namespace flakelab::engine
