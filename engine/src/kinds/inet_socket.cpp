// An AF_INET/AF_INET6 socket whose state is its addresses and options, not data
// (pb::InetSocket): UDP and UDP-Lite (unbound, bound, connected, shut down), ICMP
// ping sockets, raw sockets of any protocol, TCP sockets that are unconnected or listening with an empty
// accept queue. Dump reads them from our own copy of the socket (pidfd_getfd:
// getsockname, getpeername, getsockopt, TCP_INFO) and from sock_diag (a UDP
// socket's shutdown state and queues); restore creates the socket anew in the
// engine's network namespace. What cannot be recreated so is refused at dump
// naming the protocol and its state: queued datagrams or packets, a non-empty
// accept queue, connected TCP.
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "../anon_files.h"
#include "flakelab/engine/error.h"
#include "inet_diag.h"
#include "inet_sockaddr.h"
#include "inet_socket_options.h"
#include "socket_fd.h"
#include "socket_options_io.h"

namespace flakelab::engine {
namespace {

constexpr uint32_t kRcvShutdown = 1, kSendShutdown = 2;

const char* tcp_state_name(int state) {
  static const char* const names[] = {"?",         "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                                      "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
  return state > 0 && state < 12 ? names[state] : "?";
}

// "UDP", "TCP6"... how refusals name the socket.
std::string socket_label(int family, int type, int protocol) {
  std::string p = protocol == IPPROTO_UDP       ? "UDP"
                  : protocol == IPPROTO_UDPLITE ? "UDP-Lite"
                  : protocol == IPPROTO_TCP     ? "TCP"
                  : protocol == IPPROTO_ICMP    ? "ICMP"
                  : protocol == IPPROTO_ICMPV6  ? "ICMPv6"
                                                : "protocol " + std::to_string(protocol);
  if (type == SOCK_RAW) p = "raw " + p;
  return (family == AF_INET6 ? "AF_INET6 " : "AF_INET ") + p + " socket";
}

std::string address_of(int s, bool peer) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  int rc = peer ? getpeername(s, reinterpret_cast<sockaddr*>(&a), &len) : getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0) return "";
  return std::string(reinterpret_cast<const char*>(&a), len);
}

// A classic BPF filter (SO_GET_FILTER: the count first, then the instructions);
// an eBPF one (SO_ATTACH_BPF) cannot be read back and is refused.
std::string record_filter(int s, const std::string& label, pb::InetSocket& out) {
  socklen_t count = 0;
  if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, nullptr, &count) != 0) {
    if (errno == EACCES) return label + " has an eBPF socket filter (SO_ATTACH_BPF); it cannot be dumped";
    return label + ": getsockopt(SO_GET_FILTER): " + std::strerror(errno);
  }
  if (count == 0) return "";
  std::string insns(count * sizeof(sock_filter), '\0');
  socklen_t got = count;
  if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, insns.data(), &got) != 0 || got != count)
    return label + ": getsockopt(SO_GET_FILTER) of " + std::to_string(count) + " instructions failed";
  out.set_filter(insns);
  return "";
}

// A datagram socket's shutdown state and queues: sock_diag knows bound UDP
// sockets; for the others (unbound UDP, ICMP), poll() shows RCV_SHUTDOWN and
// whether anything is queued to read.
std::string datagram_state(int s, int family, int type, int protocol, uint64_t ino, const std::string& label,
                           pb::InetSocket& out) {
  std::optional<InetDiag> d;
  if (type == SOCK_DGRAM && (protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
    d = inet_diag_find(static_cast<uint8_t>(family), static_cast<uint8_t>(protocol), ino);
  if (d) {
    out.set_shutdown(d->shutdown);
    if (d->rqueue)
      return label + " has " + std::to_string(d->rqueue) +
             " bytes of datagrams queued to read; queued datagrams are not restored, so such a socket is refused";
    if (d->wqueue)
      return label + " has " + std::to_string(d->wqueue) +
             " bytes queued to send (corked, UDP_CORK/MSG_MORE); pending output is not restored, so it is refused";
    return "";
  }
  pollfd p{s, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) < 0) return label + ": poll: " + std::strerror(errno);
  uint32_t shutdown = (p.revents & POLLRDHUP) ? kRcvShutdown : 0;
  if (p.revents & POLLHUP) shutdown = kRcvShutdown | kSendShutdown;
  out.set_shutdown(shutdown);
  char c;
  if (!(shutdown & kRcvShutdown) && recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
    return label + " has datagrams queued to read; queued datagrams are not restored, so such a socket is refused";
  return "";
}

// A TCP socket that carries no connection: unconnected (maybe bound) or listening
// with nobody waiting to be accepted.
std::string stream_state(int s, const std::string& label, pb::InetSocket& out) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(s, SOL_TCP, TCP_INFO, &info, &len) != 0) return label + ": getsockopt(TCP_INFO): " + std::strerror(errno);
  if (info.tcpi_state == TCP_LISTEN) {
    // For a listener TCP_INFO reports its accept queue (unacked) and backlog (sacked).
    if (info.tcpi_unacked != 0)
      return label + " listening on " + inet_sockaddr_text(address_of(s, false)) + " has " +
             std::to_string(info.tcpi_unacked) +
             " connections waiting to be accepted; a non-empty accept queue is not supported yet (established "
             "connections need TCP_REPAIR)";
    out.set_listening(true);
    out.set_backlog(info.tcpi_sacked);
    return "";
  }
  if (info.tcpi_state != TCP_CLOSE)
    return label + " in state " + tcp_state_name(info.tcpi_state) + " (" + inet_sockaddr_text(address_of(s, false)) +
           " -> " + inet_sockaddr_text(address_of(s, true)) +
           "): connected TCP sockets are not supported yet (they need TCP_REPAIR)";
  // An unconnected socket's RCV_SHUTDOWN shows in poll() (a SEND_SHUTDOWN alone does not).
  pollfd p{s, POLLRDHUP, 0};
  if (poll(&p, 1, 0) < 0) return label + ": poll: " + std::strerror(errno);
  if (p.revents & POLLRDHUP) out.set_shutdown(kRcvShutdown);
  return "";
}

class InetSocketKind : public AnonInodeKind {
 public:
  InetSocketKind() : AnonInodeKind(pb::FILE_INET_SOCKET, "socket:[inet]") {}

  bool matches(const FdProbe& fd) const override {
    if (fd.link.rfind("socket:[", 0) != 0) return false;
    base::UniqueFd s = socket_copy(fd.pid, fd.fd);
    std::optional<int> family = s ? socket_int_option(s.get(), SO_DOMAIN) : std::nullopt;
    return family && (*family == AF_INET || *family == AF_INET6);
  }

 protected:
  std::string record_state(const FdProbe& fd, bool, pb::File& f) const override {
    if (!in_our_netns(fd.pid))
      return "the process is in another network namespace; its sockets cannot be dumped from here";
    base::UniqueFd s = socket_copy(fd.pid, fd.fd);
    if (!s) return std::string("pidfd_getfd: ") + std::strerror(errno);
    auto family = socket_int_option(s.get(), SO_DOMAIN);
    auto type = socket_int_option(s.get(), SO_TYPE);
    auto protocol = socket_int_option(s.get(), SO_PROTOCOL);
    if (!family || !type || !protocol) return std::string("getsockopt(SO_DOMAIN/SO_TYPE/SO_PROTOCOL): ") + std::strerror(errno);
    const std::string label = socket_label(*family, *type, *protocol);
    pb::InetSocket& out = *f.mutable_inet_socket();
    out.set_family(static_cast<uint32_t>(*family));
    out.set_type(static_cast<uint32_t>(*type));
    out.set_protocol(static_cast<uint32_t>(*protocol));
    std::string why;
    bool datagram = *protocol == IPPROTO_UDP || *protocol == IPPROTO_UDPLITE || *protocol == IPPROTO_ICMP ||
                    *protocol == IPPROTO_ICMPV6;
    if ((*type == SOCK_DGRAM && datagram) || *type == SOCK_RAW) {
      why = datagram_state(s.get(), *family, *type, *protocol, fd.st.st_ino, label, out);
    } else if (*type == SOCK_STREAM && *protocol == IPPROTO_TCP) {
      why = stream_state(s.get(), label, out);
    } else {
      return label + " is not supported yet";
    }
    if (!why.empty()) return why;
    if (std::string why_filter = record_filter(s.get(), label, out); !why_filter.empty()) return why_filter;
    std::string local = address_of(s.get(), false), peer = address_of(s.get(), true);
    if (*type == SOCK_RAW) {  // a raw socket shows its protocol as its port; bind() and connect() ignore it
      inet_sockaddr_clear_port(local);
      inet_sockaddr_clear_port(peer);
    }
    if (inet_sockaddr_is_set(local)) out.set_local(local);
    if (!peer.empty()) out.set_peer(peer);
    base::UniqueFd fresh(socket(*family, *type | SOCK_CLOEXEC, *protocol));
    if (!fresh) return label + ": socket() for its default options: " + std::strerror(errno);
    record_socket_options(s.get(), fresh.get(), inet_socket_options(), *type == SOCK_STREAM, *out.mutable_options());
    return "";
  }

  base::UniqueFd create(const pb::File& f, const std::string& what_kind) const override {
    const pb::InetSocket& r = f.inet_socket();
    const std::string what = what_kind + " " + socket_label(static_cast<int>(r.family()), static_cast<int>(r.type()),
                                                            static_cast<int>(r.protocol())) +
                             " " + inet_sockaddr_text(r.local());
    base::UniqueFd s(socket(static_cast<int>(r.family()), static_cast<int>(r.type()) | SOCK_CLOEXEC,
                            static_cast<int>(r.protocol())));
    if (!s) throw_errno(what + ": socket");
    if (!r.filter().empty()) {
      sock_fprog prog{static_cast<unsigned short>(r.filter().size() / sizeof(sock_filter)),
                      reinterpret_cast<sock_filter*>(const_cast<char*>(r.filter().data()))};
      if (setsockopt(s.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
        throw_errno(what + ": SO_ATTACH_FILTER of " + std::to_string(prog.len) + " instructions");
    }
    apply_socket_options(s.get(), r.options(), find_inet_socket_option, what);
    bind_local(s.get(), r, what);
    if (r.listening() && listen(s.get(), static_cast<int>(r.backlog())) != 0)
      throw_errno(what + ": listen(" + std::to_string(r.backlog()) + ")");
    if (!r.peer().empty() &&
        connect(s.get(), reinterpret_cast<const sockaddr*>(r.peer().data()), static_cast<socklen_t>(r.peer().size())) != 0)
      throw_errno(what + ": connect to " + inet_sockaddr_text(r.peer()));
    // shutdown() of an unconnected socket records the state and says ENOTCONN.
    if (r.shutdown() != 0 && shutdown(s.get(), static_cast<int>(r.shutdown()) - 1) != 0 && errno != ENOTCONN)
      throw_errno(what + ": shutdown(" + std::to_string(r.shutdown() - 1) + ")");
    return s;
  }

 private:
  // The port of a TCP socket that is closed after a connection may still be held
  // by that connection's TIME_WAIT, which the plain bind() refuses: such a
  // socket binds in TCP_REPAIR mode (the kernel's forced reuse, as CRIU does),
  // then gets its SO_REUSEADDR back (leaving repair mode clears it). Listeners
  // and UDP sockets bind plainly: a port someone else holds must not be shared.
  static void bind_local(int s, const pb::InetSocket& r, const std::string& what) {
    if (r.local().empty()) return;
    const auto* addr = reinterpret_cast<const sockaddr*>(r.local().data());
    const auto len = static_cast<socklen_t>(r.local().size());
    if (bind(s, addr, len) == 0) return;
    if (errno != EADDRINUSE || r.protocol() != IPPROTO_TCP || r.listening())
      throw_errno(what + ": bind to " + inet_sockaddr_text(r.local()));
    int reuse = 0, on = 1, off = 0;
    socklen_t reuse_len = sizeof(reuse);
    if (getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, &reuse_len) != 0) throw_errno(what + ": getsockopt(SO_REUSEADDR)");
    if (setsockopt(s, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) != 0) throw_errno(what + ": TCP_REPAIR on to bind");
    int rc = bind(s, addr, len), err = errno;
    if (setsockopt(s, SOL_TCP, TCP_REPAIR, &off, sizeof(off)) != 0) throw_errno(what + ": TCP_REPAIR off");
    if (rc != 0) throw_errno(what + ": bind in repair mode to " + inet_sockaddr_text(r.local()), err);
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) != 0) throw_errno(what + ": SO_REUSEADDR back");
  }
};

}  // namespace

const FileKindModule& inet_socket_kind() {
  static const InetSocketKind kind;
  return kind;
}

}  // namespace flakelab::engine
