#include "unix_builder.h"

#include <fcntl.h>
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

#include <spdlog/spdlog.h>

#include "flakelab/base/scm_rights.h"
#include "flakelab/engine/error.h"
#include "safe_open.h"
#include "unix_diag.h"
#include "unix_image.h"
#include "unix_socket_common.h"

namespace flakelab::engine {

using base::UniqueFd;

namespace {

using namespace unix_detail;

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
    if (path) clear_stale_socket_file(sk);
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
    if (checked && o_.log)  // the name was taken at first: the SCM06 race, won by waiting
      o_.log->warn("restore: unix socket {} bound after waiting {} us for the unix garbage collector",
                   unix_name_text(sk.name()),
                   std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    if (path) {
      created_paths_.push_back(sk.name());
      if (sk.path_unlinked()) ::unlink(sk.name().c_str());
    }
  }
  // The image's path for a bind(): normalised, its directory reached without
  // symbolic links (the image is untrusted: engine/README.md, "Threat model").
  void check_bind_path(const std::string& name, const std::string& who) {
    if (std::string why = image_path_problem(name); !why.empty())
      throw EngineError(who + ": refused to bind to " + name + ": " + why);
    const size_t slash = name.rfind('/');
    ExpectedFile dir;
    dir.type = S_IFDIR;
    lookup_image_path(slash == 0 ? "/" : name.substr(0, slash), dir, who + ": the directory of the socket path");
  }

  // A socket file at the dumped socket's path is removed only if it is that
  // socket's own file, left behind when it died: the inode the dump recorded,
  // and no live socket bound to it. Anything else (a live service's socket, a
  // regular file, a symbolic link, an image without the inode) is refused.
  void clear_stale_socket_file(const pb::UnixSocket& sk) {
    const std::string& name = sk.name();
    const std::string who = what(sk);
    check_bind_path(name, who);
    struct stat st;
    if (::lstat(name.c_str(), &st) != 0) {
      if (errno == ENOENT) return;
      throw_errno(who + ": lstat " + name);
    }
    if (!S_ISSOCK(st.st_mode))
      throw EngineError(who + ": refused to replace " + name + ": it exists and is not a socket file (mode " +
                        std::to_string(st.st_mode) + ")");
    if (sk.name_vfs_ino() == 0)
      throw EngineError(who + ": refused to replace the socket file " + name +
                        ": the image does not record which inode the dumped socket's file had");
    if (st.st_ino != sk.name_vfs_ino() || (sk.name_vfs_dev() != 0 && st.st_dev != sk.name_vfs_dev()))
      throw EngineError(who + ": refused to replace the socket file " + name + ": it is inode " +
                        std::to_string(st.st_ino) + " on device " + std::to_string(st.st_dev) +
                        ", not the dumped socket's own file (inode " + std::to_string(sk.name_vfs_ino()) + ")");
    for (const auto& [ino, d] : unix_diag_all())
      if (d.has_vfs && d.vfs_ino == st.st_ino && diag_dev(d.vfs_dev) == st.st_dev)
        throw EngineError(who + ": refused to replace the socket file " + name + ": a live socket (" + ino_text(ino) +
                          (socket_holder(ino).empty() ? "" : " of " + socket_holder(ino)) + ") is bound to it");
    if (::unlink(name.c_str()) != 0 && errno != ENOENT) throw_errno(who + ": unlink the stale socket file " + name);
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
    int self = a.get();
    (void)base::send_with_rights(b.get(), &byte, 1, {&self, 1}, MSG_DONTWAIT | MSG_NOSIGNAL);  // a holds itself
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
    if (x.name()[0] == '/') check_bind_path(x.name(), what(x) + " (temporary listener)");
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
    base::RightsToSend control(rights);
    size_t done = 0;
    do {
      iovec iov{const_cast<char*>(m.data().data()) + done, m.data().size() - done};
      msghdr h{};
      h.msg_name = const_cast<sockaddr_un*>(addr);
      h.msg_namelen = addr ? addr_len : 0;
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      if (done == 0) control.attach(h);  // the files go with the first part only
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
        if (m.sender()[0] == '/') check_bind_path(m.sender(), what(r) + " (stand-in sender)");
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

void restore_unix_sockets(const pb::Process& p, std::vector<UniqueFd>& open_files, int min_fd,
                          const RestoreOptions& options, RestoreStats* stats) {
  if (p.unix_sockets_size() == 0) return;
  SocketBuilder(p, open_files, options, stats).run(min_fd);
}

}  // namespace flakelab::engine
