// Kernel objects shared by the processes of a tree, created once.
//
// Dump (share_tree_files): every open file description gets a tree-wide id,
// File.tree_file, equal in two processes exactly when kcmp(KCMP_FILE) says the
// fds are one description; records the files refer to get tree-wide ids too
// (Pipe.id is the pipe's inode already; Fifo.id and SavedFile.id are renumbered
// by inode), and only the first holder's record keeps the contents.
//
// Restore (TreeFiles): the files of every process are merged into one list, one
// entry per tree_file, with the records they refer to merged by id (the first
// record of an id wins), and that list is opened by the restorer exactly as a
// single process's files are (reopen_files, saved files, FIFOs). The restored
// root inherits every object, and every process it creates inherits them from
// its parent; each then dup3()s its own fds into place and closes the rest. A
// new kind of file needs nothing here unless it refers to a new table of
// records: then that table is merged by id in TreeFiles::open_all (its ids must
// be tree-wide: an inode, or renumbered in share_tree_files).
#pragma once

#include <sys/types.h>

#include <map>
#include <vector>

#include "flakelab/compel/unique_fd.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"
#include "saved_files.h"

namespace flakelab::engine {

// With every process of the tree frozen: sets File.tree_file and makes Fifo and
// SavedFile ids tree-wide. `processes` are the live processes in tree order.
// Throws EngineError.
void share_tree_files(const std::vector<pb::Process*>& processes);

class TreeFiles {
 public:
  // Opens every file of `processes` (live, in tree order) once, each at an fd
  // number above every saved fd of the tree. Throws EngineError.
  // Unix sockets (the root's records) come last, under `options`; `stats` (may
  // be null) receives what their restore measured.
  void open_all(const std::vector<const pb::Process*>& processes, const RestoreOptions& options, RestoreStats* stats);
  // The restorer's fd of `p.files(index)`.
  int file_fd(const pb::Process& p, uint32_t index) const;
  const SavedFiles& saved() const { return saved_; }
  // `p` for restore_epoll_watches(): an epoll shared with an earlier process of
  // the tree keeps no watches here (that process adds them to the one object).
  const pb::Process& epoll_view(const pb::Process& p) const;
  // F_SEAL_FUTURE_WRITE/F_SEAL_SEAL once every process has mapped everything.
  void seal_late() const { saved_.seal_late(merged_); }

 private:
  pb::Process merged_;
  std::vector<compel::UniqueFd> open_files_;         // per merged_ file
  std::map<uint32_t, std::vector<int>> index_;       // pid -> merged_ index per file
  std::map<uint32_t, pb::Process> epoll_views_;      // pid -> files/fds without others' watches
  SavedFiles saved_;
};

}  // namespace flakelab::engine
