// Process trees in the image: the rules a tree's records must follow so that
// restore can rebuild it (shared by dump, which refuses a tree that breaks them
// before touching it, and by the image validation).
//
// Restore creates every process from its parent (clone3 set_tid), so:
//  - every parent comes before its children and is not a zombie;
//  - a process is its session's leader (sid == pid) or stays in its parent's
//    session (it was forked into it and never called setsid);
//  - a group is led by a process of the tree in the same session, or is the
//    root's group when the root's session and group both lead outside the tree:
//    the restored tree then joins the restorer's session and group, as a single
//    restored process always did;
//  - a zombie's wait status is an exit code or a signal without the core-dump
//    flag (which restore cannot reproduce).
#pragma once

#include <optional>
#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct TreeProblem {
  std::string field;     // "processes[3].pgid"
  std::string problem;   // names the pid and what is wrong
};

// The first rule `tree` breaks, or nothing.
std::optional<TreeProblem> check_tree_records(const pb::TreeImage& tree);

// check_tree_records(), and that the records agree with the image's live
// processes and their shared files (same tree_file: same kind and flags).
// Throws ImageError naming `process_name`.
void validate_tree(const Image& image, const std::string& process_name);

// Does the wait status describe a process that exited or was killed (no core flag)?
bool restorable_exit_status(uint32_t status);

}  // namespace flakelab::engine
