// AF_UNIX sockets, dump side: identity, names, peers, pending connections and
// shutdown state from sock_diag, and every receive queue with MSG_PEEK and
// SO_PEEK_OFF on a pidfd_getfd() copy (nothing is consumed, the peek offset is
// put back; unix_peek.h). Files sitting in a queue as SCM_RIGHTS (MSG_PEEK hands
// us copies) become pb::File entries no fd refers to, followed recursively, so a
// socket that exists only in flight, or a cycle of sockets queued in each other,
// is one more pb::UnixSocket. The fd's own File comes from the kind module
// (kinds/unix_socket.cpp); restore is unix_builder.h.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

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

}  // namespace flakelab::engine
