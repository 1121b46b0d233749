// AF_INET/AF_INET6 sockets without a connection to carry (kinds/inet_socket.cpp)
// through dump and restore, and every state dump refuses, named.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/victims/inet_victims.h"
#include "flakelab/victims/netlink_victims.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;
using namespace flakelab::victims;

namespace {

int verify(pid_t pid) {
  EXPECT_EQ(kill(pid, SIGUSR1), 0);
  int status = wait_exit(pid);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void expect_victim_state(const Image& image) {
  int inet = 0, listening = 0, connected = 0, shut = 0, with_options = 0;
  for (const auto& f : image.root().process.files()) {
    if (f.kind() != pb::FILE_INET_SOCKET) continue;
    ++inet;
    listening += f.inet_socket().listening();
    connected += !f.inet_socket().peer().empty();
    shut += f.inet_socket().shutdown() != 0;
    with_options += f.inet_socket().options_size() != 0;
  }
  EXPECT_EQ(inet, 12);
  EXPECT_EQ(listening, 2);
  EXPECT_EQ(connected, 3);  // the client and the two shut-down ones
  EXPECT_EQ(shut, 2);
  EXPECT_GE(with_options, 5);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
uint16_t port_of(int s) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  return getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? ntohs(a.sin_port) : 0;
}

// Forks a child that closes every fd, runs `setup` (its fds then start at 0)
// and sleeps; dump must fail naming every string of `want` and leave the child
// as it was.
template <typename Setup>
void expect_refused(Setup setup, const std::vector<std::string>& want) {
  ChildPid v;
  v.pid = fork();
  ASSERT_GE(v.pid, 0);
  if (v.pid == 0) {
    syscall(SYS_close_range, 0, ~0u, 0);
    if (!setup()) _exit(1);
    for (;;) pause();
  }
  ASSERT_TRUE(wait_sleeping(v.pid));
  try {
    dump_process(v.pid);
    ADD_FAILURE() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("pid " + std::to_string(v.pid) + " fd "), std::string::npos) << msg;
    for (const auto& w : want) EXPECT_NE(msg.find(w), std::string::npos) << w << " in: " << msg;
  }
  EXPECT_TRUE(alive(v.pid));
  EXPECT_TRUE(wait_sleeping(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
}

// fd 0: a UDP socket on 127.0.0.1, fd 1 a second one that sent it "queued".
bool udp_with_a_datagram() {
  int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in at = loopback(0);
  if (a != 0 || b != 1 || bind(a, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) return false;
  at = loopback(port_of(a));
  return sendto(b, "queued", 6, 0, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 6;
}

// fd 0 listens on 127.0.0.1; fd 1 connected to it (not accepted); with `accept_it`
// fd 2 is the accepted end.
bool tcp_pair(bool accept_it) {
  int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at = loopback(0);
  if (l != 0 || c != 1 || bind(l, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0 || listen(l, 4) != 0) return false;
  at = loopback(port_of(l));
  if (connect(c, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) return false;
  return !accept_it || accept(l, nullptr, nullptr) == 2;
}

}  // namespace

TEST(InetSockets, VictimChecksItselfUntouched) {
  ChildPid v{start_inet_socket_victim()};
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(InetSockets, SurviveDumpAndRestore) {
  ChildPid v{start_inet_socket_victim()};
  std::vector<int> fds = fd_numbers(v.pid);
  Image image = dump_process(v.pid);
  EXPECT_FALSE(alive(v.pid));
  expect_victim_state(image);
  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_all_sleeping(restored));
  EXPECT_EQ(fd_numbers(restored), fds);
  EXPECT_EQ(verify(restored), kVictimOk);
  v.pid = -1;
}

// Dump reads every socket through a copy and sock_diag: the running victim
// still finds everything as it was.
TEST(InetSockets, LeaveRunningTouchesNothing) {
  ChildPid v{start_inet_socket_victim()};
  Image image = dump_process(v.pid, DumpOptions{.leave_running = true});
  expect_victim_state(image);
  ASSERT_TRUE(alive(v.pid));
  ASSERT_TRUE(wait_all_sleeping(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(NetlinkSockets, VictimChecksItselfUntouched) {
  ChildPid v{start_netlink_socket_victim()};
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(NetlinkSockets, SurviveDumpAndRestore) {
  ChildPid v{start_netlink_socket_victim()};
  Image image = dump_process(v.pid);
  int netlink = 0;
  for (const auto& f : image.root().process.files()) netlink += f.kind() == pb::FILE_NETLINK_SOCKET;
  EXPECT_EQ(netlink, 3);
  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_all_sleeping(restored));
  EXPECT_EQ(verify(restored), kVictimOk);
  v.pid = -1;
}

// A request whose answer was not read yet: the answer would be lost.
TEST(InetSocketsRefused, NetlinkWithAnAnswerQueued) {
  expect_refused(
      [] {
        int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        struct {
          nlmsghdr h;
          rtgenmsg g;
        } req{};
        req.h.nlmsg_len = sizeof(req);
        req.h.nlmsg_type = RTM_GETLINK;
        req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        req.g.rtgen_family = AF_UNSPEC;
        return s == 0 && send(s, &req, sizeof(req), 0) == sizeof(req);
      },
      {"fd 0 (socket:[", "AF_NETLINK socket of protocol 0 has messages queued to read"});
}

TEST(InetSocketsRefused, QueuedDatagrams) {
  expect_refused(udp_with_a_datagram,
                 {"fd 0 (socket:[", "AF_INET UDP socket has", "bytes of datagrams queued to read", "refused"});
}

TEST(InetSocketsRefused, CorkedOutput) {
  expect_refused(
      [] {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in at = loopback(9);
        int one = 1;
        return s == 0 && setsockopt(s, SOL_UDP, UDP_CORK, &one, sizeof(one)) == 0 &&
               sendto(s, "corked", 6, 0, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 6;
      },
      {"fd 0 (socket:[", "AF_INET UDP socket has", "queued to send"});
}

TEST(InetSocketsRefused, ListenerWithAnAcceptQueue) {
  expect_refused([] { return tcp_pair(false); },
                 {"fd 0 (socket:[", "AF_INET TCP socket listening on 127.0.0.1:", "1 connections waiting to be accepted"});
}

TEST(InetSocketsRefused, EstablishedTcp) {
  expect_refused([] { return tcp_pair(true) && close(0) == 0; },
                 {"fd 1 (socket:[", "AF_INET TCP socket in state ESTABLISHED (127.0.0.1:",
                  "connected TCP sockets are not supported yet"});
}

// Protocol 253 (for experiments): no other traffic reaches the socket.
TEST(InetSocketsRefused, RawSocketWithAQueuedPacket) {
  expect_refused(
      [] {
        int s = socket(AF_INET, SOCK_RAW, 253);
        sockaddr_in at = loopback(0);
        return s == 0 && bind(s, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0 &&
               sendto(s, "queued", 6, 0, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 6;
      },
      {"fd 0 (socket:[", "AF_INET raw protocol 253 socket has datagrams queued to read"});
}

// Unix sockets do not keep a filter yet: refused rather than restored without it.
TEST(InetSocketsRefused, UnixSocketWithAFilter) {
  expect_refused(
      [] {
        int sv[2];
        sock_filter take[] = {BPF_STMT(BPF_RET | BPF_K, 0xffff)};
        sock_fprog prog{1, take};
        return socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0 &&
               setsockopt(sv[0], SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
      },
      {"fd 0 (socket:[", "unix socket with a BPF socket filter"});
}

TEST(InetSocketsRefused, OtherFamiliesAreNamed) {
  expect_refused([] { return socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)) == 0; },
                 {"fd 0 (socket:[", "AF_PACKET socket: this socket family is not supported yet"});
}
