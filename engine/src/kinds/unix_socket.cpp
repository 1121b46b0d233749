// An AF_UNIX socket ("socket:[N]"): the fd's File here names the socket by inode;
// its state (names, peers, queues, files in flight) is collected for the whole
// tree at once (dump_tree(): collect_unix_sockets(), unix_collector.h) and
// restored by its tree table after every other file (restore_unix_sockets(),
// unix_builder.h), so open() leaves it to them.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <optional>
#include <set>

#include "../unix_builder.h"
#include "../unix_collector.h"
#include "../unix_diag.h"
#include "flakelab/engine/error.h"
#include "kind.h"
#include "socket_fd.h"

namespace flakelab::engine {
namespace {

// `fd` of `pid` must be an AF_UNIX socket of our network namespace. Fills `f`
// (kind, flags, inode) if given. Returns "" or why not.
std::string describe_socket_fd(pid_t pid, int fd, uint64_t ino, uint32_t flags, pb::File* f) {
  if (!in_our_netns(pid)) return "the process is in another network namespace; its sockets cannot be dumped from here";
  std::optional<UnixDiag> d;
  try {
    d = unix_diag_one(static_cast<uint32_t>(ino));
  } catch (const EngineError& e) {
    return e.what();
  }
  if (!d) {
    // AF_INET/AF_INET6 sockets are inet_socket.cpp's; this is another family.
    base::UniqueFd copy = socket_copy(pid, fd);
    std::optional<int> family = copy ? socket_int_option(copy.get(), SO_DOMAIN) : std::nullopt;
    return (family ? socket_family_name(*family) : std::string("a socket of an unknown family")) +
           " socket: this socket family is not supported yet (AF_UNIX, AF_NETLINK, and AF_INET/AF_INET6 "
           "UDP, ICMP, raw and unconnected or listening TCP sockets are)";
  }
  if (d->type != SOCK_STREAM && d->type != SOCK_DGRAM && d->type != SOCK_SEQPACKET)
    return "unix socket type " + std::to_string(d->type) + " is not supported";
  // A socket filter would be lost silently (inet sockets keep theirs, inet_socket.cpp).
  socklen_t filter = 0;
  if (base::UniqueFd copy = socket_copy(pid, fd);
      copy && getsockopt(copy.get(), SOL_SOCKET, SO_GET_FILTER, nullptr, &filter) == 0 && filter != 0)
    return "unix socket with a BPF socket filter (SO_ATTACH_FILTER): filters on unix sockets are not supported yet";
  if (f) {
    f->set_kind(pb::FILE_UNIX_SOCKET);
    f->set_flags(flags & ~static_cast<uint32_t>(O_CLOEXEC));
    f->set_inode(ino);
  }
  return "";
}

// A tree's sockets, merged by id; the files their queues carry are renumbered
// into the merged files.
class UnixSocketTable : public TreeTable {
 public:
  TablePhase phase() const override { return TablePhase::kLast; }
  void merge(const pb::Process& p, const std::vector<int>& file_index, pb::Process& merged) override {
    for (const auto& sk : p.unix_sockets()) {
      if (!ids_.insert(sk.id()).second) continue;
      auto* copy = merged.add_unix_sockets();
      *copy = sk;
      for (auto& q : *copy->mutable_queue())
        for (auto& f : *q.mutable_fds()) f = static_cast<uint32_t>(file_index.at(f));
    }
  }
  void open(TableOpen& ctx) override {
    restore_unix_sockets(ctx.merged, ctx.open_files, ctx.min_fd, ctx.options, ctx.stats);
  }

 private:
  std::set<uint32_t> ids_;
};

class UnixSocketKind : public FileKindModule {
 public:
  UnixSocketKind() : FileKindModule(pb::FILE_UNIX_SOCKET) {}
  bool matches(const FdProbe& fd) const override { return fd.link.rfind("socket:[", 0) == 0; }
  std::string check(const FdProbe& fd) const override {
    return describe_socket_fd(fd.pid, fd.fd, fd.st.st_ino, fd.info.flags(), nullptr);
  }
  std::string dump(const FdProbe& fd, pb::File& f) const override {
    return describe_socket_fd(fd.pid, fd.fd, fd.st.st_ino, fd.info.flags(), &f);
  }
  base::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // UnixSocketTable

  // Sockets tree-wide: a peer or a queued file may be in another process. A file
  // in flight that another process holds becomes one object with it once the
  // tree's files are shared.
  std::function<void()> dump_tree(const std::vector<pb::Process*>& live, const DumpOptions& options) const override {
    auto aliases =
        collect_unix_sockets(live, {.ext_unix_sk = options.ext_unix_sk, .will_kill = !options.leave_running});
    return [live, aliases] {
      for (const auto& a : aliases)
        live.at(0)->mutable_files(a.root_file)->set_tree_file(
            live.at(static_cast<size_t>(a.proc))->files(a.file).tree_file());
    };
  }
  std::unique_ptr<TreeTable> tree_table() const override { return std::make_unique<UnixSocketTable>(); }
};

}  // namespace

const FileKindModule& unix_socket_kind() {
  static const UnixSocketKind kind;
  return kind;
}

}  // namespace flakelab::engine
