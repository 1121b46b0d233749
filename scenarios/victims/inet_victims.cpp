#include "flakelab/victims/inet_victims.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "flakelab/victims/victims.h"
#include "settle.h"

namespace flakelab::victims {
namespace {

constexpr int kRawProtocol = 253;  // RFC 3692: for experiments

sockaddr_in v4(const char* host, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, host, &a.sin_addr);
  return a;
}
sockaddr_in6 v6(const char* host, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, host, &a.sin6_addr);
  return a;
}

template <class Addr>
bool bind_to(int s, const Addr& a) {
  return bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
}
template <class Addr>
bool connect_to(int s, const Addr& a) {
  return connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
}

std::string name_of(int s, bool peer = false) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  int rc = peer ? getpeername(s, reinterpret_cast<sockaddr*>(&a), &len) : getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  return rc == 0 ? std::string(reinterpret_cast<const char*>(&a), len) : "<none>";
}
uint16_t port_of(int s) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  if (getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&a)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
}

bool set_int(int s, int level, int name, int v) { return setsockopt(s, level, name, &v, sizeof(v)) == 0; }
int get_int(int s, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  return getsockopt(s, level, name, &v, &len) == 0 ? v : -1;
}

// One socket's option as it was before the dump, to compare after.
struct Opt {
  int s, level, name, value;
};

bool read_shut(int s) {
  pollfd p{s, POLLRDHUP, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP);
}

int tcp_backlog(int s) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  return getsockopt(s, SOL_TCP, TCP_INFO, &info, &len) == 0 ? static_cast<int>(info.tcpi_sacked) : -1;
}

// `to` receives `text` from the address `from` within a second.
bool receives(int to, const std::string& text, const std::string& from) {
  char buf[64];
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = recvfrom(to, buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), &len);
    if (n >= 0)
      return std::string(buf, static_cast<size_t>(n)) == text && std::string(reinterpret_cast<char*>(&a), len) == from;
    if (errno != EAGAIN) return false;
    usleep(1000);
  }
  return false;
}

// A TCP client reaches listener `l` at `addr` and `l` accepts it.
template <class Addr>
bool accepts(int l, const Addr& addr, int family) {
  int c = socket(family, SOCK_STREAM, 0);
  // Data first: a TCP_DEFER_ACCEPT listener hands over a connection once it has some.
  bool ok = c >= 0 && connect_to(c, addr) && write(c, "hi", 2) == 2;
  int flags = fcntl(l, F_GETFL);
  fcntl(l, F_SETFL, flags & ~O_NONBLOCK);
  int a = ok ? accept(l, nullptr, nullptr) : -1;
  fcntl(l, F_SETFL, flags);
  ok = ok && a >= 0;
  char buf[2];
  ok = ok && read(a, buf, 2) == 2 && std::memcmp(buf, "hi", 2) == 0;
  close(c);
  close(a);
  return ok;
}

[[noreturn]] void inet_victim(int ready) {
  // UDP server on 127.0.0.1 with options.
  int server = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (server < 0 || !bind_to(server, v4("127.0.0.1", 0))) _exit(102);
  // IP_TOS before SO_PRIORITY: setting the TOS sets the priority too.
  std::vector<Opt> opts = {{server, SOL_SOCKET, SO_REUSEADDR, 1}, {server, SOL_SOCKET, SO_BROADCAST, 1},
                           {server, SOL_IP, IP_TOS, 0x10},        {server, SOL_SOCKET, SO_PRIORITY, 5},
                           {server, SOL_SOCKET, SO_MARK, 7},      {server, SOL_IP, IP_TTL, 33},
                           {server, SOL_SOCKET, SO_TIMESTAMP, 1}};
  // The client: connected without bind(), then bound to "lo".
  int client = socket(AF_INET, SOCK_DGRAM, 0);
  if (client < 0 || !connect_to(client, v4("127.0.0.1", port_of(server)))) _exit(103);
  if (setsockopt(client, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) _exit(104);
  // IPv6 only on [::1], and dual-stack on [::].
  int only6 = socket(AF_INET6, SOCK_DGRAM, 0);
  if (only6 < 0 || !set_int(only6, SOL_IPV6, IPV6_V6ONLY, 1) || !bind_to(only6, v6("::1", 0))) _exit(105);
  opts.push_back({only6, SOL_IPV6, IPV6_UNICAST_HOPS, 9});
  int dual = socket(AF_INET6, SOCK_DGRAM, 0);
  if (dual < 0 || !set_int(dual, SOL_IPV6, IPV6_V6ONLY, 0) || !bind_to(dual, v6("::", 0))) _exit(106);
  // Shut down one way each, and never bound.
  int no_send = socket(AF_INET, SOCK_DGRAM, 0), no_recv = socket(AF_INET, SOCK_DGRAM, 0);
  if (no_send < 0 || no_recv < 0 || !connect_to(no_send, v4("127.0.0.1", port_of(server))) ||
      !connect_to(no_recv, v4("127.0.0.1", port_of(server))) || shutdown(no_send, SHUT_WR) != 0 ||
      shutdown(no_recv, SHUT_RD) != 0)
    _exit(107);
  int unbound_udp = socket(AF_INET, SOCK_DGRAM, 0);
  // TCP: listeners (v4 with options, v6), bound only, never bound.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  linger lg{1, 3};
  if (listener < 0 || !set_int(listener, SOL_SOCKET, SO_REUSEPORT, 1) || !set_int(listener, SOL_TCP, TCP_NODELAY, 1) ||
      !set_int(listener, SOL_SOCKET, SO_KEEPALIVE, 1) || !set_int(listener, SOL_TCP, TCP_KEEPIDLE, 77) ||
      !set_int(listener, SOL_TCP, TCP_DEFER_ACCEPT, 1) ||
      setsockopt(listener, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0 || !bind_to(listener, v4("127.0.0.1", 0)) ||
      listen(listener, 7) != 0)
    _exit(108);
  opts.insert(opts.end(), {{listener, SOL_SOCKET, SO_REUSEPORT, 1},
                           {listener, SOL_TCP, TCP_NODELAY, 1},
                           {listener, SOL_SOCKET, SO_KEEPALIVE, 1},
                           {listener, SOL_TCP, TCP_KEEPIDLE, 77}});
  int listener6 = socket(AF_INET6, SOCK_STREAM, 0);
  if (listener6 < 0 || !bind_to(listener6, v6("::1", 0)) || listen(listener6, 3) != 0) _exit(109);
  int bound_tcp = socket(AF_INET, SOCK_STREAM, 0);
  if (bound_tcp < 0 || !bind_to(bound_tcp, v4("127.0.0.1", 0))) _exit(110);
  int unbound_tcp = socket(AF_INET, SOCK_STREAM, 0);
  if (unbound_udp < 0 || unbound_tcp < 0) _exit(111);
  // Raw, of protocol 253 (for experiments: no other traffic reaches it) on 127.0.0.1.
  int raw = socket(AF_INET, SOCK_RAW, kRawProtocol);
  if (raw < 0 || !bind_to(raw, v4("127.0.0.1", 0))) _exit(115);
  opts.insert(opts.end(), {{raw, SOL_IP, IP_TTL, 32}, {raw, SOL_IP, IP_FREEBIND, 1}});
  if (!set_int(server, SOL_SOCKET, SO_RCVBUF, 50000)) _exit(112);
  // A locked socket filter that takes whole datagrams (up to 0xfffe bytes).
  sock_filter take[] = {BPF_STMT(BPF_RET | BPF_K, 0xfffe)};
  sock_fprog prog{1, take};
  if (setsockopt(server, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) _exit(114);
  opts.push_back({server, SOL_SOCKET, SO_LOCK_FILTER, 1});
  for (auto& o : opts)
    if (!set_int(o.s, o.level, o.name, o.value)) _exit(113);
  // Set before bind() above; checked after.
  opts.push_back({only6, SOL_IPV6, IPV6_V6ONLY, 1});
  opts.push_back({dual, SOL_IPV6, IPV6_V6ONLY, 0});
  // getsockopt shows SO_RCVBUF doubled (and maybe raised to the minimum): compare what it showed.
  opts.push_back({server, SOL_SOCKET, SO_RCVBUF, get_int(server, SOL_SOCKET, SO_RCVBUF)});

  std::vector<int> all = {server, client, only6, dual, no_send, no_recv, unbound_udp, listener, listener6, bound_tcp,
                          unbound_tcp, raw};
  std::vector<std::string> names, peers;
  for (int s : all) {
    names.push_back(name_of(s));
    peers.push_back(name_of(s, true));
  }
  char device[16] = {};
  settle_and_wait(ready, all);

  int bad = 0;
  for (size_t i = 0; i < all.size(); ++i)
    if (name_of(all[i]) != names[i] || name_of(all[i], true) != peers[i]) bad |= kInetBadNames;
  for (const auto& o : opts)
    if (get_int(o.s, o.level, o.name) != o.value) bad |= kInetBadOptions;
  linger got_lg{};
  socklen_t len = sizeof(got_lg);
  if (getsockopt(listener, SOL_SOCKET, SO_LINGER, &got_lg, &len) != 0 || got_lg.l_onoff != 1 || got_lg.l_linger != 3)
    bad |= kInetBadOptions;
  len = sizeof(device);
  if (getsockopt(client, SOL_SOCKET, SO_BINDTODEVICE, device, &len) != 0 || std::string(device) != "lo")
    bad |= kInetBadOptions;
  if (!(fcntl(server, F_GETFL) & O_NONBLOCK) || !(fcntl(listener, F_GETFL) & O_NONBLOCK) ||
      (fcntl(client, F_GETFL) & O_NONBLOCK))
    bad |= kInetBadOptions;
  // Datagrams both ways, and into the IPv6 sockets.
  sockaddr_in to_client = v4("127.0.0.1", port_of(client));
  if (send(client, "ping", 4, 0) != 4 || !receives(server, "ping", name_of(client))) bad |= kInetBadDatagrams;
  sock_filter got_insn[2] = {};
  socklen_t insns = 2;
  if (getsockopt(server, SOL_SOCKET, SO_GET_FILTER, got_insn, &insns) != 0 || insns != 1 ||
      got_insn[0].code != (BPF_RET | BPF_K) || got_insn[0].k != 0xfffe)
    bad |= kInetBadOptions;
  if (sendto(server, "pong", 4, 0, reinterpret_cast<sockaddr*>(&to_client), sizeof(to_client)) != 4 ||
      !receives(client, "pong", name_of(server)))
    bad |= kInetBadDatagrams;
  int probe6 = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 to_only6 = v6("::1", port_of(only6));
  if (!bind_to(probe6, v6("::1", 0)) ||
      sendto(probe6, "six", 3, 0, reinterpret_cast<sockaddr*>(&to_only6), sizeof(to_only6)) != 3 ||
      !receives(only6, "six", name_of(probe6)))
    bad |= kInetBadDatagrams;
  // The dual-stack socket takes IPv4 too (IPV6_V6ONLY off).
  int probe4 = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to_dual = v4("127.0.0.1", port_of(dual));
  if (sendto(probe4, "four", 4, 0, reinterpret_cast<sockaddr*>(&to_dual), sizeof(to_dual)) != 4) bad |= kInetBadDatagrams;
  char buf[8];
  for (int i = 0; i < 1000 && recv(dual, buf, sizeof(buf), MSG_DONTWAIT) < 0; ++i) {
    if (i == 999) bad |= kInetBadDatagrams;
    usleep(1000);
  }
  // The raw socket gets a packet of its protocol (after its IP header), and is still raw 253.
  int raw_sender = socket(AF_INET, SOCK_RAW, kRawProtocol);
  sockaddr_in to_raw = v4("127.0.0.1", 0);
  char packet[64];
  ssize_t got = -1;
  if (sendto(raw_sender, "raw", 3, 0, reinterpret_cast<sockaddr*>(&to_raw), sizeof(to_raw)) == 3)
    for (int i = 0; i < 1000 && (got = recv(raw, packet, sizeof(packet), MSG_DONTWAIT)) < 0; ++i) usleep(1000);
  if (got < 3 || std::string(packet + got - 3, 3) != "raw" || get_int(raw, SOL_SOCKET, SO_PROTOCOL) != kRawProtocol ||
      get_int(raw, SOL_SOCKET, SO_TYPE) != SOCK_RAW)
    bad |= kInetBadDatagrams;
  // SHUT_WR: sending fails; SHUT_RD: poll() shows the read side shut; the other ways work.
  if (send(no_send, "x", 1, 0) >= 0 || errno != EPIPE) bad |= kInetBadShutdown;
  if (!read_shut(no_recv) || read_shut(no_send) || read_shut(client)) bad |= kInetBadShutdown;
  if (send(no_recv, "rd", 2, 0) != 2 || !receives(server, "rd", name_of(no_recv))) bad |= kInetBadShutdown;
  // Listeners accept; backlogs kept.
  if (!accepts(listener, v4("127.0.0.1", port_of(listener)), AF_INET) ||
      !accepts(listener6, v6("::1", port_of(listener6)), AF_INET6) || tcp_backlog(listener) != 7 ||
      tcp_backlog(listener6) != 3)
    bad |= kInetBadListen;
  // The bound-only socket can still listen at its port; the unbound ones still work.
  if (listen(bound_tcp, 2) != 0 || !accepts(bound_tcp, v4("127.0.0.1", port_of(bound_tcp)), AF_INET))
    bad |= kInetBadUnbound;
  if (!connect_to(unbound_tcp, v4("127.0.0.1", port_of(listener))) ||
      send(unbound_udp, "u", 1, 0) >= 0 /* not connected */ ||
      sendto(unbound_udp, "u", 1, 0, reinterpret_cast<sockaddr*>(&to_client), sizeof(to_client)) != 1)
    bad |= kInetBadUnbound;
  _exit(bad);
}

}  // namespace

pid_t start_inet_socket_victim() { return start_victim("inet socket victim", inet_victim); }

}  // namespace flakelab::victims
