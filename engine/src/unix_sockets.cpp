#include "unix_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/tcp.h>
#include <signal.h>
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
#include <sstream>
#include <thread>

#include "anon_files.h"
#include "flakelab/engine/error.h"
#include "pipes.h"
#include "proc_files.h"
#include "unix_diag.h"
#include "unix_image.h"

namespace flakelab::engine {

using compel::UniqueFd;

namespace {

constexpr int kScmMaxFd = 253;  // SCM_MAX_FD
constexpr size_t kPeekChunk = 64 * 1024;

std::string ino_text(uint64_t ino) { return "socket:[" + std::to_string(ino) + "]"; }

const char* type_text(uint32_t type) {
  return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "?";
}

uint32_t fdinfo_flags(pid_t pid, int fd, uint64_t* pos = nullptr) {
  std::istringstream in(procfs::read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
  std::string key;
  uint32_t flags = 0;
  while (in >> key) {
    if (key == "flags:") in >> std::oct >> flags >> std::dec;
    else if (key == "pos:" && pos) in >> *pos;
    else in.ignore(1 << 20, '\n');
  }
  return flags & ~static_cast<uint32_t>(O_CLOEXEC);
}

int get_int_opt(int fd, int opt, const std::string& what) {
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) throw_errno(what);
  return v;
}

sockaddr_un make_addr(const std::string& name, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // validate_unix_sockets() keeps names within sun_path (a path also needs its NUL).
  std::memcpy(a.sun_path, name.data(), std::min(name.size(), sizeof(a.sun_path)));
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '\0' ? 0 : 1));
  return a;
}

bool same_netns(pid_t pid) {
  struct stat a, b;
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &a) != 0) return false;
  if (::stat("/proc/self/ns/net", &b) != 0) return false;
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

// "pid N fd M" of a process holding socket inode `ino`, or "". Scans /proc/*/fd.
std::string socket_holder(uint64_t ino) {
  const std::string link = ino_text(ino);
  DIR* proc = opendir("/proc");
  if (!proc) return "";
  std::string found;
  while (dirent* e = readdir(proc)) {
    if (!all_digits(e->d_name)) continue;
    std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = readdir(fds)) {
      if (!all_digits(f->d_name)) continue;
      char buf[64];
      ssize_t n = readlinkat(dirfd(fds), f->d_name, buf, sizeof(buf));
      if (n == static_cast<ssize_t>(link.size()) && link.compare(0, link.size(), buf, static_cast<size_t>(n)) == 0) {
        found = std::string("pid ") + e->d_name + " fd " + f->d_name;
        break;
      }
    }
    closedir(fds);
    if (!found.empty()) break;
  }
  closedir(proc);
  return found;
}

// ---------------------------------------------------------------------------
// Dump

struct Peeked {
  std::string data;
  std::string sender;
  bool named_sender = false;
  std::vector<UniqueFd> fds;
};

std::vector<UniqueFd> take_rights(msghdr& m, const std::string& where) {
  std::vector<UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  if (m.msg_flags & MSG_CTRUNC) throw EngineError("dump " + where + ": control data of a queued message was truncated");
  return fds;
}

// Reads the receive queue of `s` (our copy) without consuming it: MSG_PEEK from
// a peek offset that walks the queue; the socket's own offset is put back.
std::vector<Peeked> peek_queue(int s, uint32_t type, const std::string& where) {
  int old_off = get_int_opt(s, SO_PEEK_OFF, "dump " + where + ": getsockopt SO_PEEK_OFF");
  int zero = 0;
  if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) != 0)
    throw_errno("dump " + where + ": setsockopt SO_PEEK_OFF");
  struct PutBack {
    int s, off;
    ~PutBack() { setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)); }
  } put_back{s, old_off};
  std::vector<Peeked> out;
  std::vector<char> buf(kPeekChunk);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kScmMaxFd) + CMSG_SPACE(64)];
  uint64_t total = 0;
  for (;;) {
    sockaddr_un from{};
    iovec iov{buf.data(), buf.size()};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof(from);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    int flags = MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (type == SOCK_STREAM ? 0 : MSG_TRUNC);
    ssize_t n = recvmsg(s, &m, flags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) throw_errno("dump " + where + ": recvmsg MSG_PEEK");
    Peeked msg;
    msg.fds = take_rights(m, where);
    if (type == SOCK_STREAM) {
      if (n == 0) break;  // end of stream (the peer shut down): nothing more queued
      msg.data.assign(buf.data(), static_cast<size_t>(n));
    } else {
      // With MSG_TRUNC, n is what is left of the record; the rest of a record
      // longer than the buffer is peeked on from the advanced offset.
      size_t want = static_cast<size_t>(n);
      msg.data.assign(buf.data(), std::min(want, buf.size()));
      if (type == SOCK_DGRAM && m.msg_namelen > offsetof(sockaddr_un, sun_path)) {
        msg.named_sender = true;
        msg.sender.assign(from.sun_path, m.msg_namelen - offsetof(sockaddr_un, sun_path));
        if (msg.sender[0] != '\0') msg.sender = msg.sender.substr(0, strnlen(msg.sender.data(), msg.sender.size()));
      }
      while (msg.data.size() < want) {
        if (want > UnixLimits::kMaxQueuedBytes)
          throw EngineError("dump " + where + ": a queued message of " + std::to_string(want) + " bytes is over the limit");
        iovec rest{buf.data(), std::min(buf.size(), want - msg.data.size())};
        msghdr r{};
        r.msg_iov = &rest;
        r.msg_iovlen = 1;
        r.msg_control = control;
        r.msg_controllen = sizeof(control);
        ssize_t k = recvmsg(s, &r, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k <= 0) throw_errno("dump " + where + ": recvmsg MSG_PEEK (rest of a record)", k < 0 ? errno : EIO);
        take_rights(r, where);  // the same files again: closed here
        msg.data.append(buf.data(), static_cast<size_t>(k));
      }
    }
    total += msg.data.size();
    if (total > UnixLimits::kMaxQueuedBytes || out.size() >= UnixLimits::kMaxMessages)
      throw EngineError("dump " + where + ": the receive queue holds more than " +
                        std::to_string(UnixLimits::kMaxQueuedBytes) + " bytes or " +
                        std::to_string(UnixLimits::kMaxMessages) + " messages");
    out.push_back(std::move(msg));
  }
  return out;
}

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
      f->set_flags(fdinfo_flags(getpid(), fd.get()));
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
    uint64_t pos = 0;
    uint32_t flags = fdinfo_flags(getpid(), fd.get(), &pos);
    if (pb::FileKind anon = anon_file_kind(link); anon != pb::FILE_UNKNOWN) {
      if (anon == pb::FILE_EPOLL) throw EngineError("dump " + where + ": an epoll in flight is not supported yet");
      if (std::string why = describe_anon_file(getpid(), fd.get(), anon, true, &f); !why.empty())
        throw EngineError("dump " + where + ": " + why);
    } else if (S_ISFIFO(st.st_mode) && link.rfind("pipe:[", 0) == 0) {
      f.set_kind(pb::FILE_PIPE);
      f.set_flags(flags);
      f.set_pipe_id(st.st_ino);
      bool known = false;
      for (const auto& pipe : p_.pipes()) known |= pipe.id() == st.st_ino;
      if (!known) *p_.add_pipes() = snapshot_pipe(getpid(), fd.get(), st.st_ino);
    } else if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode)) && !link.empty() && link[0] == '/') {
      struct stat by_path;
      if (::stat(link.c_str(), &by_path) != 0 || by_path.st_ino != st.st_ino || by_path.st_dev != st.st_dev ||
          st.st_nlink == 0)
        throw EngineError("dump " + where + ": a file in flight must be reachable by its path (unlinked files in flight are not supported yet)");
      if (flags & O_PATH) throw EngineError("dump " + where + ": O_PATH descriptors are not supported yet");
      f.set_kind(S_ISREG(st.st_mode) ? pb::FILE_REGULAR : S_ISDIR(st.st_mode) ? pb::FILE_DIRECTORY : pb::FILE_CHARDEV);
      f.set_path(link);
      f.set_flags(flags);
      f.set_pos(S_ISCHR(st.st_mode) ? 0 : pos);
      f.set_inode(st.st_ino);
      f.set_rdev(S_ISCHR(st.st_mode) ? st.st_rdev : 0);
    } else {
      throw EngineError("dump " + where + ": this kind of file in flight is not supported yet");
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

// ---------------------------------------------------------------------------
// Restore

class SocketBuilder {
 public:
  SocketBuilder(const pb::Process& p, std::vector<UniqueFd>& open_files, const RestoreOptions& o, RestoreStats* stats)
      : p_(p), open_files_(open_files), o_(o), stats_(stats) {
    for (const auto& s : p.unix_sockets()) by_id_[s.id()] = &s;
    for (int i = 0; i < p.files_size(); ++i)
      if (p.files(i).kind() == pb::FILE_UNIX_SOCKET) file_of_[p.files(i).unix_socket()] = i;
  }
  ~SocketBuilder() {
    if (committed_) return;
    for (const auto& path : created_paths_) ::unlink(path.c_str());
  }

  void run(int min_fd) {
    // 1. Objects, names, listeners, connected pairs.
    for (const auto& s : p_.unix_sockets())
      if (s.state() == TCP_LISTEN) create_single(s);
    for (const auto& s : p_.unix_sockets()) {
      if (fds_.count(s.id()) || s.listener() != 0) continue;
      bool stream = s.type() != SOCK_DGRAM;
      const pb::UnixSocket* peer = s.peer() ? by_id_.at(s.peer()) : nullptr;
      if (stream && s.state() == TCP_ESTABLISHED && peer && peer->listener() == 0) {
        create_pair(s, *peer);
      } else if (stream && s.state() == TCP_ESTABLISHED && !peer && s.external_peer().empty()) {
        create_orphan(s);
      } else if (!stream && peer && peer->peer() == s.id() && peer->id() != s.id()) {
        create_pair(s, *peer);
      } else {
        create_single(s);
      }
    }
    temp_listeners_.clear();
    // 2. Pending connections, in accept order.
    for (const auto& l : p_.unix_sockets())
      for (uint32_t e : l.pending()) {
        const auto& embryo = *by_id_.at(e);
        int client = fd(embryo.peer());
        connect_to(client, l.name(), "pending connection " + std::to_string(e) + " to socket id " + std::to_string(l.id()));
      }
    // 3. Queues, sent by whoever sent them, with their files.
    for (const auto& s : p_.unix_sockets()) refill(s);
    // 4. One-way datagram connections and external peers (after the queues:
    //    a connected datagram socket takes messages from its peer only).
    for (const auto& s : p_.unix_sockets()) {
      if (!s.external_peer().empty()) {
        connect_to(fd(s.id()), s.external_peer(), "socket id " + std::to_string(s.id()) + " (external peer)");
      } else if (s.type() == SOCK_DGRAM && s.peer() != 0 &&
                 (by_id_.at(s.peer())->peer() != s.id() || s.peer() == s.id())) {
        connect_to(fd(s.id()), by_id_.at(s.peer())->name(), "socket id " + std::to_string(s.id()));
      }
    }
    ghosts_.clear();  // the peers of orphans go: their sockets see the peer closed, as dumped
    // 5. Options, shutdown, file flags; then into open_files.
    for (const auto& s : p_.unix_sockets()) finish(s);
    for (const auto& [id, file] : file_of_) {
      UniqueFd high(fcntl(fd(id), F_DUPFD_CLOEXEC, min_fd));
      if (!high) throw_errno(what(*by_id_.at(id)) + ": F_DUPFD");
      open_files_.at(static_cast<size_t>(file)) = std::move(high);
    }
    committed_ = true;
  }

 private:
  std::string what(const pb::UnixSocket& s) const {
    return "restore pid " + std::to_string(p_.pid()) + ": unix socket id " + std::to_string(s.id()) + " (" +
           ino_text(s.inode()) + " " + unix_name_text(s.name()) + ")";
  }
  int fd(uint32_t id) const {
    auto it = fds_.find(id);
    if (it == fds_.end()) throw EngineError("restore pid " + std::to_string(p_.pid()) + ": unix socket id " + std::to_string(id) + " was not created");
    return it->second.get();
  }
  UniqueFd make(uint32_t type, const std::string& why) {
    UniqueFd s(::socket(AF_UNIX, static_cast<int>(type) | SOCK_CLOEXEC, 0));
    if (!s) throw_errno(why + ": socket");
    return s;
  }

  // bind() under the unix-gc-wait policy (abstract names) or over the dumped
  // socket's stale file (paths).
  void bind_owned(int s, const pb::UnixSocket& sk) {
    socklen_t len;
    sockaddr_un a = make_addr(sk.name(), len);
    const bool path = sk.name()[0] == '/';
    if (path) {
      struct stat st;
      if (::lstat(sk.name().c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
          throw EngineError(what(sk) + ": " + sk.name() + " exists and is not a socket file");
        ::unlink(sk.name().c_str());  // the dumped socket's file: nobody can connect to it any more
      }
    }
    auto start = std::chrono::steady_clock::now();
    bool checked = false;
    for (;;) {
      if (::bind(s, reinterpret_cast<sockaddr*>(&a), len) == 0) break;
      int err = errno;
      auto waited = std::chrono::steady_clock::now() - start;
      char crit[512];
      // CRIU's words, so that the flake reads the same (a name prints up to its first NUL).
      snprintf(crit, sizeof(crit), "unix: Can't bind id %#x ino %u addr %s: %s", sk.id(),
               static_cast<unsigned>(sk.inode()), sk.name().c_str(), strerror(err));
      if (err != EADDRINUSE || path || o_.unix_gc_wait.count() <= 0) throw EngineError(crit, err);
      if (!checked) {
        checked = true;
        if (std::string live = live_holder(sk); !live.empty())
          throw EngineError(std::string(crit) + " (" + unix_name_text(sk.name()) + " is held by " + live +
                            ", a live socket: not waiting for the unix garbage collector)", err);
      }
      if (waited >= o_.unix_gc_wait) {
        note_wait(waited);
        throw EngineError(std::string(crit) + " (still taken after waiting " +
                              std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()) +
                              " us for the unix garbage collector)", err);
      }
      if (stats_) ++stats_->unix_gc_retries;
      nudge_gc(waited);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    note_wait(std::chrono::steady_clock::now() - start);
    if (path) {
      created_paths_.push_back(sk.name());
      if (sk.path_unlinked()) ::unlink(sk.name().c_str());
    }
  }
  // The collector runs only when some unix socket is released while files are
  // in flight; nothing may do that for a long time after the kill (it took
  // 1.4 s once here). Releasing a socket of our own schedules it; every 1 ms in
  // case it was already running when the cycle became garbage. (The names are
  // then freed by a deferred fput, about one jiffy later.) The socket we release
  // sits in its own queue: a new cycle makes the collector walk the whole graph
  // again instead of trusting what it concluded before (with a plain socket,
  // 0.6% of 1,000 scm06 restores under load still found the name taken after 1 s).
  void nudge_gc(std::chrono::steady_clock::duration waited) {
    if (waited < next_nudge_) return;
    next_nudge_ = waited + std::chrono::milliseconds(1);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) return;
    UniqueFd a(pair[0]), b(pair[1]);
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int self = a.get();
    std::memcpy(CMSG_DATA(c), &self, sizeof(int));
    (void)::sendmsg(b.get(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);  // into a's queue: a holds itself
  }
  void note_wait(std::chrono::steady_clock::duration d) {
    if (stats_) stats_->unix_gc_waited += std::chrono::duration_cast<std::chrono::nanoseconds>(d);
  }

  // Who holds an abstract name: "" if only orphans do (sockets no process has
  // an fd of: the dumped one, waiting for the garbage collector), else the
  // live holder. The dumped socket itself is found cheaply by its inode.
  std::string live_holder(const pb::UnixSocket& sk) {
    auto same_name = [&](const UnixDiag& d) { return d.named && d.name == sk.name() && d.type == sk.type(); };
    std::vector<uint32_t> holders;
    if (auto d = unix_diag_one(static_cast<uint32_t>(sk.inode())); d && same_name(*d)) {
      holders.push_back(d->ino);
    } else {
      for (const auto& [ino, d] : unix_diag_all())
        if (same_name(d) && d.state != TCP_ESTABLISHED) holders.push_back(ino);
    }
    for (uint32_t ino : holders)
      if (std::string h = socket_holder(ino); !h.empty()) return ino_text(ino) + " of " + h;
    return "";
  }

  void connect_to(int s, const std::string& name, const std::string& who) {
    if (name.empty()) throw EngineError("restore pid " + std::to_string(p_.pid()) + ": " + who + ": the peer has no name to connect to");
    socklen_t len;
    sockaddr_un a = make_addr(name, len);
    int flags = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, flags | O_NONBLOCK);  // a full backlog must fail, not block
    int r = ::connect(s, reinterpret_cast<sockaddr*>(&a), len);
    int err = errno;
    fcntl(s, F_SETFL, flags);
    if (r != 0)
      throw_errno("restore pid " + std::to_string(p_.pid()) + ": " + who + ": connect to " + unix_name_text(name), err);
  }

  void create_single(const pb::UnixSocket& s) {
    UniqueFd f = make(s.type(), what(s));
    if (!s.name().empty() && s.owns_name()) bind_owned(f.get(), s);
    if (s.state() == TCP_LISTEN && ::listen(f.get(), static_cast<int>(s.backlog())) != 0) throw_errno(what(s) + ": listen");
    fds_.emplace(s.id(), std::move(f));
  }

  // A listener for a name some socket shows without owning it: the image's own,
  // or a temporary one bound to the name for the time of an accept().
  int listener_for(const pb::UnixSocket& x) {
    for (const auto& l : p_.unix_sockets())
      if (l.state() == TCP_LISTEN && l.type() == x.type() && l.name() == x.name() && l.owns_name()) return fd(l.id());
    if (auto it = temp_listeners_.find(x.name()); it != temp_listeners_.end()) return it->second.get();
    UniqueFd l = make(x.type(), what(x) + " (temporary listener)");
    socklen_t len;
    sockaddr_un a = make_addr(x.name(), len);
    if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) != 0)
      throw_errno(what(x) + ": bind a temporary listener to its name");
    if (x.name()[0] == '/') ::unlink(x.name().c_str());  // the accepted socket keeps the name, not the file
    if (::listen(l.get(), 16) != 0) throw_errno(what(x) + ": listen (temporary listener)");
    return temp_listeners_.emplace(x.name(), std::move(l)).first->second.get();
  }

  // `x` gets its name from a listener: connect `client` there and accept `x`.
  UniqueFd accept_from(const pb::UnixSocket& x, int client) {
    int l = listener_for(x);
    connect_to(client, x.name(), "socket id " + std::to_string(x.id()));
    UniqueFd a(::accept4(l, nullptr, nullptr, SOCK_CLOEXEC));
    if (!a) throw_errno(what(x) + ": accept");
    return a;
  }

  // Two sockets connected to each other.
  void create_pair(const pb::UnixSocket& a, const pb::UnixSocket& b) {
    bool a_borrowed = !a.name().empty() && !a.owns_name();
    bool b_borrowed = !b.name().empty() && !b.owns_name();
    if (a_borrowed && b_borrowed) throw EngineError(what(a) + ": both ends show names they do not own");
    if (!a_borrowed && !b_borrowed) {
      int sv[2];
      if (::socketpair(AF_UNIX, static_cast<int>(a.type()) | SOCK_CLOEXEC, 0, sv) != 0) throw_errno(what(a) + ": socketpair");
      UniqueFd fa(sv[0]), fb(sv[1]);
      if (!a.name().empty()) bind_owned(fa.get(), a);
      if (!b.name().empty()) bind_owned(fb.get(), b);
      fds_.emplace(a.id(), std::move(fa));
      fds_.emplace(b.id(), std::move(fb));
      return;
    }
    const pb::UnixSocket& server = a_borrowed ? a : b;  // the accepted end
    const pb::UnixSocket& client = a_borrowed ? b : a;
    UniqueFd c = make(client.type(), what(client));
    if (!client.name().empty()) bind_owned(c.get(), client);
    UniqueFd srv = accept_from(server, c.get());
    fds_.emplace(client.id(), std::move(c));
    fds_.emplace(server.id(), std::move(srv));
  }

  // A connected stream socket whose peer was closed: made with a peer of our
  // own ("ghost") that sends its queue and is then closed.
  void create_orphan(const pb::UnixSocket& s) {
    UniqueFd self, ghost;
    if (!s.name().empty() && !s.owns_name()) {
      ghost = make(s.type(), what(s) + " (peer)");
      self = accept_from(s, ghost.get());
    } else {
      int sv[2];
      if (::socketpair(AF_UNIX, static_cast<int>(s.type()) | SOCK_CLOEXEC, 0, sv) != 0) throw_errno(what(s) + ": socketpair");
      self.reset(sv[0]);
      ghost.reset(sv[1]);
      if (!s.name().empty()) bind_owned(self.get(), s);
    }
    fds_.emplace(s.id(), std::move(self));
    ghosts_.emplace(s.id(), std::move(ghost));
    orphans_.insert(s.id());
  }

  int file_fd(uint32_t file) {
    const auto& f = p_.files(static_cast<int>(file));
    if (f.kind() == pb::FILE_UNIX_SOCKET) return fd(f.unix_socket());
    int r = open_files_.at(file).get();
    if (r < 0) throw EngineError("restore pid " + std::to_string(p_.pid()) + ": file " + std::to_string(file) + " in flight was not opened");
    return r;
  }

  void send_one(int from, const pb::UnixSocket& to, const pb::UnixQueuedMessage& m, const sockaddr_un* addr,
                socklen_t addr_len) {
    std::vector<int> rights;
    for (uint32_t f : m.fds()) rights.push_back(file_fd(f));
    std::vector<char> control(rights.empty() ? 0 : CMSG_SPACE(sizeof(int) * rights.size()));
    size_t done = 0;
    do {
      iovec iov{const_cast<char*>(m.data().data()) + done, m.data().size() - done};
      msghdr h{};
      h.msg_name = const_cast<sockaddr_un*>(addr);
      h.msg_namelen = addr ? addr_len : 0;
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      if (!rights.empty() && done == 0) {
        h.msg_control = control.data();
        h.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * rights.size());
        std::memcpy(CMSG_DATA(c), rights.data(), sizeof(int) * rights.size());
      }
      ssize_t n = ::sendmsg(from, &h, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno(what(to) + ": re-queue a message of " + std::to_string(m.data().size()) + " bytes");
      done += static_cast<size_t>(n);
    } while (done < m.data().size());
  }

  // Big queues need room on the sending side; finish() sets the saved sizes.
  void roomy(int s) {
    int big = 64 << 20;
    setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
  }

  void refill(const pb::UnixSocket& r) {
    if (r.queue_size() == 0) return;
    if (r.type() != SOCK_DGRAM) {
      int from = -1;
      if (r.peer() != 0) from = fd(r.peer());
      else if (auto g = ghosts_.find(r.id()); g != ghosts_.end()) from = g->second.get();
      if (from < 0) throw EngineError(what(r) + ": queued data but no peer to send it");
      roomy(from);
      for (const auto& m : r.queue()) send_one(from, r, m, nullptr, 0);
      return;
    }
    socklen_t to_len = 0;
    sockaddr_un to{};
    if (!r.name().empty()) to = make_addr(r.name(), to_len);
    const pb::UnixSocket* mutual =
        r.peer() && r.peer() != r.id() && by_id_.at(r.peer())->peer() == r.id() ? by_id_.at(r.peer()) : nullptr;
    for (const auto& m : r.queue()) {
      if (mutual && mutual->name() == m.sender()) {
        roomy(fd(mutual->id()));
        send_one(fd(mutual->id()), r, m, nullptr, 0);
        continue;
      }
      if (r.name().empty()) throw EngineError(what(r) + ": a queued datagram from " + unix_name_text(m.sender()) + " cannot be re-sent to an unnamed socket");
      const pb::UnixSocket* sender = nullptr;
      if (!m.sender().empty())
        for (const auto& s : p_.unix_sockets())
          if (s.type() == SOCK_DGRAM && s.owns_name() && s.name() == m.sender()) sender = &s;
      if (sender) {
        roomy(fd(sender->id()));
        send_one(fd(sender->id()), r, m, &to, to_len);
        continue;
      }
      // The sender is gone: a stand-in bound to its name (if it is free).
      UniqueFd temp = make(SOCK_DGRAM, what(r) + " (stand-in sender)");
      if (!m.sender().empty()) {
        socklen_t len;
        sockaddr_un a = make_addr(m.sender(), len);
        if (::bind(temp.get(), reinterpret_cast<sockaddr*>(&a), len) != 0)
          throw_errno(what(r) + ": bind a stand-in sender to " + unix_name_text(m.sender()));
        if (m.sender()[0] == '/') ::unlink(m.sender().c_str());
      }
      roomy(temp.get());
      send_one(temp.get(), r, m, &to, to_len);
    }
  }

  void finish(const pb::UnixSocket& s) {
    if (s.listener() != 0) return;  // a pending connection: nothing of it is ours
    int f = fd(s.id());
    std::string w = what(s);
    if (s.state() != TCP_LISTEN && !orphans_.count(s.id())) {
      uint32_t how = s.shutdown() & 3;
      // Streams: shutting one end sets the peer's other half too, as it did originally.
      if (how != 0 && ::shutdown(f, how == 3 ? SHUT_RDWR : how == 1 ? SHUT_RD : SHUT_WR) != 0 && errno != ENOTCONN)
        throw_errno(w + ": shutdown");
    }
    int on = s.passcred() ? 1 : 0;
    if (setsockopt(f, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0) throw_errno(w + ": SO_PASSCRED");
    // getsockopt shows twice what was set; FORCE: the saved size may exceed [wr]mem_max.
    if (s.sndbuf() != 0) {
      int v = static_cast<int>(s.sndbuf() / 2);
      if (setsockopt(f, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0) throw_errno(w + ": SO_SNDBUFFORCE");
    }
    if (s.rcvbuf() != 0) {
      int v = static_cast<int>(s.rcvbuf() / 2);
      if (setsockopt(f, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0) throw_errno(w + ": SO_RCVBUFFORCE");
    }
    if (s.peek_off() >= 0) {
      int v = s.peek_off();
      if (setsockopt(f, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof(v)) != 0) throw_errno(w + ": SO_PEEK_OFF");
    }
    if (auto it = file_of_.find(s.id()); it != file_of_.end()) {
      const auto& file = p_.files(it->second);
      if (fcntl(f, F_SETFL, static_cast<int>(file.flags() & O_NONBLOCK)) != 0) throw_errno(w + ": F_SETFL");
    }
  }

  const pb::Process& p_;
  std::vector<UniqueFd>& open_files_;
  const RestoreOptions& o_;
  RestoreStats* stats_;
  std::map<uint32_t, const pb::UnixSocket*> by_id_;
  std::map<uint32_t, int> file_of_;  // socket id -> files index
  std::map<uint32_t, UniqueFd> fds_;
  std::map<uint32_t, UniqueFd> ghosts_;
  std::set<uint32_t> orphans_;  // their peer was closed: shut down both ways by closing the ghost
  std::map<std::string, UniqueFd> temp_listeners_;
  std::vector<std::string> created_paths_;
  bool committed_ = false;
  std::chrono::steady_clock::duration next_nudge_{0};
};

}  // namespace

bool is_socket_link(const std::string& link) { return link.rfind("socket:[", 0) == 0; }

std::string describe_socket_fd(pid_t pid, int fd, uint64_t ino, uint32_t flags, pb::File* f) {
  if (!same_netns(pid)) return "the process is in another network namespace; its sockets cannot be dumped from here";
  std::optional<UnixDiag> d;
  try {
    d = unix_diag_one(static_cast<uint32_t>(ino));
  } catch (const EngineError& e) {
    return e.what();
  }
  (void)fd;
  if (!d) return "only AF_UNIX sockets are supported";
  if (d->type != SOCK_STREAM && d->type != SOCK_DGRAM && d->type != SOCK_SEQPACKET)
    return "unix socket type " + std::to_string(d->type) + " is not supported";
  if (f) {
    f->set_kind(pb::FILE_UNIX_SOCKET);
    f->set_flags(flags & ~static_cast<uint32_t>(O_CLOEXEC));
    f->set_inode(ino);
  }
  return "";
}

std::vector<UnixFileAlias> collect_unix_sockets(const std::vector<pb::Process*>& processes, const UnixDumpOptions& options) {
  bool any = false;
  for (const pb::Process* p : processes)
    for (const auto& f : p->files()) any |= f.kind() == pb::FILE_UNIX_SOCKET;
  if (!any) return {};
  return SocketCollector(processes, options).run();
}

void restore_unix_sockets(const pb::Process& p, std::vector<UniqueFd>& open_files, int min_fd,
                          const RestoreOptions& options, RestoreStats* stats) {
  if (p.unix_sockets_size() == 0) return;
  SocketBuilder(p, open_files, options, stats).run(min_fd);
}

}  // namespace flakelab::engine
