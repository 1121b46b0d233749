// Open files of a process: what dump records and restore reopens (the kinds of
// file supported: engine/README.md, "What survives"). Each kind is a module of
// kinds/ (kinds/kind.h); this is the dispatcher over them: it reads each fd once,
// gives fds that share an open file description (kcmp(KCMP_FILE)) one pb::File,
// and hands each description to its kind's module.
#pragma once

#include <sys/types.h>

#include <string>
#include <optional>
#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"
#include "fs_identity.h"

namespace flakelab::engine {

// Before the process is touched, reading /proc only: why its fd table cannot be
// dumped, naming the pid, fd and link, or "". `tree`: the other processes dumped
// with it (pipes and FIFOs they hold too are not "held elsewhere").
std::string check_files(pid_t pid, const std::vector<pid_t>& tree = {});

// With the process frozen: fills out.files/fds and the kinds' tables (pipes,
// FIFOs, saved files). Returns "" or why not (naming pid, fd and link), since the
// state may have changed since check_files().
std::string collect_files(pid_t pid, pb::Process& out, const std::vector<pid_t>& tree = {});

// The restorer's copies of the image's open files, one per pb::File (empty for
// those their tables open later: saved files, FIFOs, sockets), each at an fd
// number >= `min_fd` so that placing them at the saved numbers in the target never
// overwrites one that is still needed. `openers[i]`: whose fs identity opens
// p.files(i) (OpenContext::opener); past its end, p's own record. Throws
// EngineError naming the path.
std::vector<base::UniqueFd> reopen_files(const pb::Process& p, int min_fd,
                                         const std::vector<std::optional<FsIdentity>>& openers = {});

}  // namespace flakelab::engine
