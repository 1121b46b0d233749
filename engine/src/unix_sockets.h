// AF_UNIX sockets: dump reads identity, names, peers, pending connections and
// shutdown state with sock_diag, and every receive queue with MSG_PEEK and
// SO_PEEK_OFF on a pidfd_getfd() copy (nothing is consumed, the peek offset is
// put back). Files sitting in a queue as SCM_RIGHTS (MSG_PEEK hands us copies)
// become pb::File entries no fd refers to, followed recursively, so a socket
// that exists only in flight, or a cycle of sockets queued in each other, is
// one more pb::UnixSocket. Restore creates every socket object in the restorer
// (bind, listen, socketpair/connect/accept to get names and peers right), then
// re-sends every queued message, with its SCM_RIGHTS, in the saved order.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "flakelab/compel/unique_fd.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"

namespace flakelab::engine {

// "socket:[N]" links of /proc/PID/fd.
bool is_socket_link(const std::string& link);

// Before the process is touched: `fd` of `pid` must be an AF_UNIX socket of our
// network namespace. Fills `f` (kind, flags, inode). Returns "" or why not.
std::string describe_socket_fd(pid_t pid, int fd, uint64_t ino, uint32_t flags, pb::File* f);

struct UnixDumpOptions {
  bool ext_unix_sk = false;  // reconnect sockets whose peer is outside by name on restore
  bool will_kill = true;     // the process is killed after the dump (pending connections may be accepted to read them)
};

// A file of the root that stands for files(file) of processes[proc] (a file in
// flight that another process of the tree holds): give it that file's tree_file
// once the tree's files are shared, so restore makes them one object.
struct UnixFileAlias {
  int root_file;
  int proc;
  int file;
};

// With the tree frozen and every fd table in `processes` (live processes, root
// first): fills the root's unix_sockets (and files in flight into the root's
// files/pipes) and File.unix_socket in every process; socket ids are tree-wide.
// A peer in another process of the tree is not outside. Throws EngineError
// naming the pid, fd and peer for anything it cannot dump.
std::vector<UnixFileAlias> collect_unix_sockets(const std::vector<pb::Process*>& processes, const UnixDumpOptions& options);

// Creates every socket of `p` into open_files[i] (at numbers >= min_fd), with
// names, peers, pending connections, queues and files in flight; call after
// every other file of `p` is in open_files. Throws EngineError; a failed restore
// leaves no socket file behind.
void restore_unix_sockets(const pb::Process& p, std::vector<compel::UniqueFd>& open_files, int min_fd,
                          const RestoreOptions& options, RestoreStats* stats);

}  // namespace flakelab::engine
