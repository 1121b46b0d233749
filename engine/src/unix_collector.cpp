#include "unix_collector.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "flakelab/engine/error.h"
#include "kinds/kind.h"
#include "pipes.h"
#include "proc_files.h"
#include "unix_diag.h"
#include "unix_image.h"
#include "unix_peek.h"
#include "unix_socket_common.h"

namespace flakelab::engine {

using base::UniqueFd;

namespace {

using namespace unix_detail;

// Our own copy's status flags, without O_CLOEXEC (per fd, kept in pb::Fd).
uint32_t fdinfo_flags(int fd) { return read_fdinfo(getpid(), fd).flags() & ~static_cast<uint32_t>(O_CLOEXEC); }

// One collector for the whole tree: a socket held by several processes is one
// node (its first holder's file), a peer in another process of the tree is not
// outside. Every record goes into the root's Process (p_), and queue fds index
// the root's files: a file in flight that another process holds gets an alias
// there, a copy of that process's File whose tree_file is filled in later.
class SocketCollector {
 public:
  SocketCollector(const std::vector<pb::Process*>& processes, const UnixDumpOptions& o)
      : procs_(processes), p_(*processes.at(0)), pid_(static_cast<pid_t>(p_.pid())), o_(o) {}

  std::vector<UnixFileAlias> run() {
    all_ = unix_diag_all();
    // The fd tables' sockets first, in tree and file order.
    for (size_t k = 0; k < procs_.size(); ++k) {
      pb::Process& q = *procs_[k];
      const pid_t pid = static_cast<pid_t>(q.pid());
      UniqueFd pidfd;
      for (int i = 0; i < q.files_size(); ++i) {
        const auto& f = q.files(i);
        if (f.kind() != pb::FILE_UNIX_SOCKET) continue;
        if (auto it = by_ino_.find(static_cast<uint32_t>(f.inode())); it != by_ino_.end()) {
          q.mutable_files(i)->set_unix_socket(it->second->id);  // shared with an earlier process
          continue;
        }
        int fd = -1;
        for (const auto& d : q.fds())
          if (d.file() == static_cast<uint32_t>(i)) {
            fd = static_cast<int>(d.fd());
            break;
          }
        std::string where = "pid " + std::to_string(pid) + " fd " + std::to_string(fd) + " (" + ino_text(f.inode()) + ")";
        if (!pidfd) {
          pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
          if (!pidfd) throw_errno("dump pid " + std::to_string(pid) + ": pidfd_open");
        }
        UniqueFd copy(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
        if (!copy) throw_errno("dump " + where + ": pidfd_getfd");
        struct stat st;
        if (fstat(copy.get(), &st) != 0 || st.st_ino != f.inode())
          throw EngineError("dump " + where + ": the fd changed while being dumped");
        add_node(static_cast<uint32_t>(f.inode()), std::move(copy), static_cast<int>(k), i, where);
      }
    }
    drain();
    accept_pending();
    drain();
    link();
    return std::move(aliases_);
  }

 private:
  struct Node {
    uint32_t ino = 0;
    uint32_t id = 0;
    UnixDiag diag;
    UniqueFd fd;
    int proc = 0;  // index into procs_ of the process whose files(file) it is
    int file = -1;
    std::string where;
    bool embryo = false;
    bool peeked = false;
    uint32_t listener_ino = 0;  // embryos
    uint32_t client_ino = 0;    // embryos
    pb::UnixSocket* rec = nullptr;
  };

  Node& add_node(uint32_t ino, UniqueFd fd, int proc, int file, const std::string& where) {
    auto it = all_.find(ino);
    if (it == all_.end())
      throw EngineError("dump " + where + ": sock_diag does not know the socket (it is not an AF_UNIX socket of this network namespace)");
    auto node = std::make_unique<Node>();
    node->ino = ino;
    node->id = static_cast<uint32_t>(nodes_.size() + 1);
    node->diag = it->second;
    node->fd = std::move(fd);
    node->proc = proc;
    node->file = file;
    node->where = where;
    Node& n = *node;
    by_ino_[ino] = node.get();
    nodes_.push_back(std::move(node));
    queue_.push_back(&n);
    if (file >= 0) procs_[static_cast<size_t>(proc)]->mutable_files(file)->set_unix_socket(n.id);
    return n;
  }

  void drain() {
    while (!queue_.empty()) {
      Node* n = queue_.front();
      queue_.pop_front();
      if (n->peeked || !n->fd) continue;
      n->peeked = true;
      describe(*n);
      if (n->diag.state == TCP_LISTEN) continue;  // its queue holds connections, not data
      for (auto& m : peek_queue(n->fd.get(), n->diag.type, n->where)) {
        auto* q = n->rec->add_queue();
        q->set_data(std::move(m.data));
        if (m.named_sender) q->set_sender(m.sender);
        for (auto& fd : m.fds) q->add_fds(in_flight(std::move(fd), *n));
      }
    }
  }

  // The socket's own record: type, state, name, options.
  void describe(Node& n) {
    auto* s = n.rec = p_.add_unix_sockets();
    const UnixDiag& d = n.diag;
    s->set_id(n.id);
    s->set_inode(n.ino);
    s->set_type(d.type);
    s->set_state(d.state);
    s->set_shutdown(d.shutdown);
    if (d.type != SOCK_STREAM && d.type != SOCK_DGRAM && d.type != SOCK_SEQPACKET)
      throw EngineError("dump " + n.where + ": unix socket type " + std::to_string(d.type) + " is not supported");
    if (d.named) {
      if (d.name[0] != '\0' && d.name[0] != '/')
        throw EngineError("dump " + n.where + ": bound to the relative path \"" + d.name +
                          "\"; sockets bound to relative paths are not supported yet");
      s->set_name(d.name);
      s->set_owns_name(owns_name(n));
      if (d.name[0] == '/' && s->owns_name()) {
        s->set_name_vfs_ino(d.vfs_ino);
        s->set_name_vfs_dev(diag_dev(d.vfs_dev));
        struct stat st;
        s->set_path_unlinked(::lstat(d.name.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != d.vfs_ino);
      }
    }
    if (d.state == TCP_LISTEN) s->set_backlog(d.wqueue);
    if (n.embryo) return;
    int fd = n.fd.get();
    s->set_passcred(get_int_opt(fd, SO_PASSCRED, "dump " + n.where + ": getsockopt SO_PASSCRED") != 0);
    s->set_sndbuf(static_cast<uint32_t>(get_int_opt(fd, SO_SNDBUF, "dump " + n.where + ": getsockopt SO_SNDBUF")));
    s->set_rcvbuf(static_cast<uint32_t>(get_int_opt(fd, SO_RCVBUF, "dump " + n.where + ": getsockopt SO_RCVBUF")));
    s->set_peek_off(get_int_opt(fd, SO_PEEK_OFF, "dump " + n.where + ": getsockopt SO_PEEK_OFF"));
  }

  // A bound path belongs to the socket that bound it (sock_diag shows its vfs
  // inode); an abstract name shown by a connected stream socket may be its
  // listener's (accepted sockets share it): it owns it only if nobody else does.
  bool owns_name(const Node& n) {
    const UnixDiag& d = n.diag;
    if (n.embryo || (d.name[0] == '/' && !d.has_vfs)) return false;
    if (d.type == SOCK_DGRAM || d.state != TCP_ESTABLISHED) return true;
    // Accepted sockets show (and, for paths, hold) their listener's name.
    for (const auto& [ino, other] : all_)
      if (ino != n.ino && other.state == TCP_LISTEN && other.type == d.type && other.named && other.name == d.name &&
          (d.name[0] == '\0' || other.vfs_ino == d.vfs_ino))
        return false;
    if (d.name[0] == '/') return true;
    // No listener shows it: probe whether the name is taken (by this socket) or free.
    UniqueFd probe(::socket(AF_UNIX, static_cast<int>(d.type) | SOCK_CLOEXEC, 0));
    if (!probe) throw_errno("dump " + n.where + ": socket (name probe)");
    socklen_t len;
    sockaddr_un a = make_addr(d.name, len);
    return ::bind(probe.get(), reinterpret_cast<sockaddr*>(&a), len) != 0;
  }

  // A file received with MSG_PEEK from a queue: its pb::File index (a file the
  // process or an earlier queue holds is the same entry).
  uint32_t in_flight(UniqueFd fd, const Node& holder) {
    struct stat st;
    if (fstat(fd.get(), &st) != 0) throw_errno("dump " + holder.where + ": fstat of a file in flight");
    std::string where = "a file in flight in the queue of " + holder.where;
    if (S_ISSOCK(st.st_mode)) {
      uint32_t ino = static_cast<uint32_t>(st.st_ino);
      if (auto it = by_ino_.find(ino); it != by_ino_.end()) {
        Node& n = *it->second;
        if (n.file < 0) throw EngineError("dump " + where + ": " + ino_text(ino) + " is in flight and pending at once");
        return n.proc == 0 ? static_cast<uint32_t>(n.file) : alias(n.proc, n.file);
      }
      auto* f = p_.add_files();
      f->set_kind(pb::FILE_UNIX_SOCKET);
      f->set_inode(ino);
      f->set_flags(fdinfo_flags(fd.get()));
      int file = p_.files_size() - 1;
      add_node(ino, std::move(fd), 0, file, "pid " + std::to_string(pid_) + ": " + ino_text(ino) + " (in flight in " +
                                                ino_text(holder.ino) + ")");
      return static_cast<uint32_t>(file);
    }
    // The processes' own fds, then files in flight seen before.
    std::string link = procfs::read_link("/proc/self/fd/" + std::to_string(fd.get()));
    for (size_t k = 0; k < procs_.size(); ++k)
      for (const auto& d : procs_[k]->fds()) {
        if (syscall(SYS_kcmp, procs_[k]->pid(), getpid(), KCMP_FILE, d.fd(), fd.get()) != 0) continue;
        if (k == 0) return d.file();
        pb::FileKind kind = procs_[k]->files(static_cast<int>(d.file())).kind();
        if (kind != pb::FILE_PIPE && kind != pb::FILE_REGULAR && kind != pb::FILE_DIRECTORY && kind != pb::FILE_CHARDEV)
          throw EngineError("dump " + where + " (" + link + "): pid " + std::to_string(procs_[k]->pid()) + " fd " +
                            std::to_string(d.fd()) + " holds it too; a " + pb::FileKind_Name(kind) +
                            " in flight that another process of the tree holds is not supported yet");
        if (kind == pb::FILE_PIPE) {
          bool known = false;
          for (const auto& pipe : p_.pipes()) known |= pipe.id() == st.st_ino;
          if (!known) *p_.add_pipes() = snapshot_pipe(getpid(), fd.get(), st.st_ino);
        }
        return alias(static_cast<int>(k), static_cast<int>(d.file()));
      }
    for (const auto& [file, ours] : flight_files_)
      if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, ours.get(), fd.get()) == 0) return file;
    where += " (" + link + ")";
    pb::File f;
    FdProbe probe;
    probe.pid = getpid();
    probe.fd = fd.get();
    probe.link = link;
    probe.st = st;
    probe.info = read_fdinfo(getpid(), fd.get());
    // The fd kinds' modules record it, as they would an fd of the process; the
    // kinds that cannot travel are refused here.
    const FileKindModule* kind = match_file_kind(probe);
    if (!kind || kind->kind() == pb::FILE_FIFO)
      throw EngineError("dump " + where + ": this kind of file in flight is not supported yet");
    if (kind->kind() == pb::FILE_EPOLL) throw EngineError("dump " + where + ": an epoll in flight is not supported yet");
    if (kind->traits().shape == FileShape::kSavedTable || kind->traits().shape == FileShape::kByPath) {
      struct stat by_path;
      if (kind->kind() == pb::FILE_SAVED || ::stat(link.c_str(), &by_path) != 0 || by_path.st_ino != st.st_ino ||
          by_path.st_dev != st.st_dev || st.st_nlink == 0)
        throw EngineError("dump " + where + ": a file in flight must be reachable by its path (unlinked files in flight are not supported yet)");
    }
    if (std::string why = kind->dump(probe, f); !why.empty()) throw EngineError("dump " + where + ": " + why);
    if (kind->kind() == pb::FILE_PIPE) {
      bool known = false;
      for (const auto& pipe : p_.pipes()) known |= pipe.id() == st.st_ino;
      if (!known) *p_.add_pipes() = snapshot_pipe(getpid(), fd.get(), st.st_ino);
    }
    *p_.add_files() = std::move(f);
    uint32_t file = static_cast<uint32_t>(p_.files_size() - 1);
    flight_files_.emplace_back(file, std::move(fd));
    return file;
  }

  // The root's file for files(file) of procs_[proc]: a copy that restore merges
  // with it (same tree_file, set by the caller once the tree's files are shared).
  uint32_t alias(int proc, int file) {
    auto key = std::make_pair(proc, file);
    if (auto it = alias_index_.find(key); it != alias_index_.end()) return it->second;
    pb::File copy = procs_[static_cast<size_t>(proc)]->files(file);
    copy.clear_tree_file();
    *p_.add_files() = std::move(copy);
    uint32_t index = static_cast<uint32_t>(p_.files_size() - 1);
    alias_index_.emplace(key, index);
    aliases_.push_back({static_cast<int>(index), proc, file});
    return index;
  }

  // Pending connections of every listener: an embryo per client. Reading what a
  // client sent to its embryo needs accept() (the embryo has no fd): done only
  // when the process is killed after the dump, and only if there is data.
  void accept_pending() {
    std::vector<Node*> listeners;
    for (auto& n : nodes_)
      if (n->diag.state == TCP_LISTEN && !n->diag.icons.empty()) listeners.push_back(n.get());
    for (Node* l : listeners) {
      bool data = false;
      for (uint32_t client : l->diag.icons) {
        auto it = by_ino_.find(client);
        if (it == by_ino_.end()) {
          auto a = all_.find(client);
          std::string who = a == all_.end() ? "" : " (" + unix_name_text(a->second.name) + ")";
          std::string holder = socket_holder(client);
          throw EngineError("dump " + l->where + ": a pending connection from " + ino_text(client) + who +
                            ", which is outside the process tree" + (holder.empty() ? "" : " (" + holder + ")") +
                            "; connections from outside cannot be dumped");
        }
        data |= it->second->diag.wqueue != 0;
      }
      std::vector<UniqueFd> accepted;
      if (data) {
        if (!o_.will_kill)
          throw EngineError("dump " + l->where + ": a pending connection holds data, which cannot be read without accepting it; "
                            "dump without leave_running");
        for (size_t k = 0; k < l->diag.icons.size(); ++k) {
          UniqueFd a(::accept4(l->fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
          if (!a) throw_errno("dump " + l->where + ": accept (to read a pending connection)");
          accepted.push_back(std::move(a));
        }
      }
      for (size_t k = 0; k < l->diag.icons.size(); ++k) {
        uint32_t client = l->diag.icons[k];
        auto node = std::make_unique<Node>();
        node->id = static_cast<uint32_t>(nodes_.size() + 1);
        node->embryo = true;
        node->listener_ino = l->ino;
        node->client_ino = client;
        node->where = l->where + " pending connection " + std::to_string(k + 1) + " (from " + ino_text(client) + ")";
        node->diag.type = l->diag.type;
        node->diag.state = TCP_ESTABLISHED;
        node->diag.named = l->diag.named;
        node->diag.name = l->diag.name;
        node->diag.peer = client;
        if (!accepted.empty()) {
          struct stat st;
          if (fstat(accepted[k].get(), &st) != 0) throw_errno("dump " + node->where + ": fstat");
          auto d = unix_diag_one(static_cast<uint32_t>(st.st_ino));
          if (!d || d->peer != client) throw EngineError("dump " + node->where + ": accepted connections came in another order");
          node->ino = static_cast<uint32_t>(st.st_ino);
          node->diag.shutdown = d->shutdown;
          node->fd = std::move(accepted[k]);
        }
        Node& n = *node;
        nodes_.push_back(std::move(node));
        embryo_of_client_[client] = &n;
        l->rec->add_pending(n.id);
        if (!n.fd) {
          n.peeked = true;
          describe(n);
        } else {
          queue_.push_back(&n);
        }
      }
    }
  }

  // Peers, now that every socket has an id.
  void link() {
    for (auto& np : nodes_) {
      Node& n = *np;
      auto* s = n.rec;
      if (n.embryo) {
        s->set_listener(by_ino_.at(n.listener_ino)->id);
        s->set_peer(by_ino_.at(n.client_ino)->id);
        s->set_owns_name(false);
        s->set_state(TCP_ESTABLISHED);
        continue;
      }
      if (auto e = embryo_of_client_.find(n.ino); e != embryo_of_client_.end()) {
        s->set_peer(e->second->id);
        continue;
      }
      uint32_t peer = n.diag.peer;
      if (peer == 0 && n.diag.type != SOCK_DGRAM && n.diag.state == TCP_ESTABLISHED)
        for (const auto& [ino, d] : all_)
          if (d.state == TCP_LISTEN && std::find(d.icons.begin(), d.icons.end(), n.ino) != d.icons.end())
            throw EngineError("dump " + n.where + ": waits to be accepted by " + ino_text(ino) + " " +
                              unix_name_text(d.name) + ", which is outside the process tree");
      if (peer == 0) continue;  // none, or a stream peer that was closed
      if (auto it = by_ino_.find(peer); it != by_ino_.end()) {
        s->set_peer(it->second->id);
        continue;
      }
      auto a = all_.find(peer);
      std::string name = a == all_.end() ? "(unknown)" : unix_name_text(a->second.name);
      if (o_.ext_unix_sk && a != all_.end() && a->second.named) {
        s->set_external_peer(a->second.name);
        s->set_external_peer_inode(peer);
        continue;
      }
      std::string holder = socket_holder(peer);
      throw EngineError("dump " + n.where + ": " + type_text(n.diag.type) + " socket " + unix_name_text(n.diag.name) +
                        " is connected to " + ino_text(peer) + " " + name + ", which is outside the process tree" +
                        (holder.empty() ? "" : " (" + holder + ")") +
                        (a != all_.end() && a->second.named ? "; --ext-unix-sk reconnects it by name on restore"
                                                            : "; an unnamed peer cannot be reconnected"));
    }
    // Datagram sockets connected one way must be reconnected by the peer's name.
    for (const auto& s : p_.unix_sockets()) {
      if (s.type() != SOCK_DGRAM || s.peer() == 0) continue;
      const auto& peer = *std::find_if(p_.unix_sockets().begin(), p_.unix_sockets().end(),
                                       [&](const pb::UnixSocket& o) { return o.id() == s.peer(); });
      if (peer.peer() != s.id() && (peer.name().empty() || !peer.owns_name()))
        throw EngineError("dump pid " + std::to_string(pid_) + ": " + ino_text(s.inode()) +
                          " is connected to the unnamed datagram socket " + ino_text(peer.inode()) +
                          ", which is not connected back; it cannot be reconnected");
    }
  }

  std::vector<pb::Process*> procs_;  // the tree's live processes, root first
  pb::Process& p_;                   // the root: holds every record
  pid_t pid_;
  UnixDumpOptions o_;
  std::map<uint32_t, UnixDiag> all_;
  std::map<std::pair<int, int>, uint32_t> alias_index_;
  std::vector<UnixFileAlias> aliases_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<uint32_t, Node*> by_ino_;
  std::map<uint32_t, Node*> embryo_of_client_;
  std::deque<Node*> queue_;
  std::vector<std::pair<uint32_t, UniqueFd>> flight_files_;
};

}  // namespace

std::vector<UnixFileAlias> collect_unix_sockets(const std::vector<pb::Process*>& processes, const UnixDumpOptions& options) {
  bool any = false;
  for (const pb::Process* p : processes)
    for (const auto& f : p->files()) any |= f.kind() == pb::FILE_UNIX_SOCKET;
  if (!any) return {};
  return SocketCollector(processes, options).run();
}

}  // namespace flakelab::engine
