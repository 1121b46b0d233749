#include "flakelab/victims/socket_victims.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "flakelab/victims/victims.h"
#include "settle.h"
#include "unix_messages.h"

namespace flakelab::victims {
namespace {

int bound(int type, const std::string& name) {
  int s = socket(AF_UNIX, type, 0);
  socklen_t len;
  sockaddr_un a = addr_of(name, len);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0) _exit(102);
  return s;
}

std::string sock_name(int s) {
  sockaddr_un a{};
  socklen_t len = sizeof(a);
  if (getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "<error>";
  return from_addr(a, len);
}
std::string peer_name(int s) {
  sockaddr_un a{};
  socklen_t len = sizeof(a);
  if (getpeername(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "<error>";
  return from_addr(a, len);
}


std::string pattern(size_t n, int salt) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(salt * 31 + i * 7 + (i >> 9));
  return s;
}

bool is_eof(int s) {
  char c;
  return recv(s, &c, 1, MSG_DONTWAIT) == 0;
}

ino_t inode(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

int int_opt(int s, int opt) {
  int v = -1;
  socklen_t len = sizeof(v);
  getsockopt(s, SOL_SOCKET, opt, &v, &len);
  return v;
}

[[noreturn]] void socket_victim(int ready, const std::string& dir) {
  const std::string tag = std::to_string(getpid());
  int st[2], sq[2], sh[2], orp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) ||
      socketpair(AF_UNIX, SOCK_STREAM, 0, sh) || socketpair(AF_UNIX, SOCK_STREAM, 0, orp))
    _exit(103);
  // Stream: several writes each way.
  if (write(st[0], "ab-1", 4) != 4 || write(st[0], "ab-2", 4) != 4 || write(st[1], "ba-data", 7) != 7) _exit(104);
  // Seqpacket records.
  const std::string r1 = "x", r2 = pattern(3000, 1), r3 = pattern(70000, 2);
  if (!send_with(sq[0], r1, {}) || !send_with(sq[0], r2, {}) || !send_with(sq[0], r3, {})) _exit(105);
  // Datagrams from several senders to a name with embedded NULs.
  const std::string dname = std::string("\0flk\0dg\0", 8) + tag;
  const std::string spath = dir + "/sender";
  int dg = bound(SOCK_DGRAM, dname);
  int sp = bound(SOCK_DGRAM, spath);
  int sa = bound(SOCK_DGRAM, std::string("\0flk-sa-", 8) + tag);
  int su = socket(AF_UNIX, SOCK_DGRAM, 0);
  int sc = bound(SOCK_DGRAM, std::string("\0flk-sc-", 8) + tag);
  int ow = socket(AF_UNIX, SOCK_DGRAM, 0);
  socklen_t dlen;
  sockaddr_un dAddr = addr_of(dname, dlen);
  if (connect(ow, reinterpret_cast<sockaddr*>(&dAddr), dlen) != 0) _exit(106);
  if (!send_with(sp, "from-path", {}, &dname) || !send_with(sa, "from-abstract", {}, &dname) ||
      !send_with(su, "from-unnamed", {}, &dname) || !send_with(sc, "from-closed", {}, &dname) ||
      !send_with(ow, "one-way", {}))
    _exit(107);
  close(su);
  close(sc);
  // Listener with an accepted connection and two pending ones.
  const std::string lpath = dir + "/listen", c3name = std::string("\0flk-c3-", 8) + tag;
  int l = bound(SOCK_STREAM, lpath);
  if (listen(l, 7) != 0) _exit(108);
  socklen_t llen;
  sockaddr_un lAddr = addr_of(lpath, llen);
  int c3 = bound(SOCK_STREAM, c3name);
  if (connect(c3, reinterpret_cast<sockaddr*>(&lAddr), llen) != 0) _exit(109);
  int s3 = accept(l, nullptr, nullptr);
  int c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s3 < 0 || connect(c1, reinterpret_cast<sockaddr*>(&lAddr), llen) != 0 ||
      connect(c2, reinterpret_cast<sockaddr*>(&lAddr), llen) != 0)
    _exit(110);
  if (write(c3, "c3-to-s3", 8) != 8 || write(c1, "pending-1", 9) != 9) _exit(111);
  // Shutdown, and a peer that is gone.
  if (write(sh[0], "last words", 10) != 10 || shutdown(sh[0], SHUT_WR) != 0) _exit(112);
  if (write(orp[1], "orphan", 6) != 6) _exit(113);
  close(orp[1]);
  // Options.
  int one = 1, snd = 65536, rcv = 100000;
  if (setsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
      setsockopt(st[1], SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) ||
      setsockopt(dg, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) || fcntl(sq[1], F_SETFL, O_NONBLOCK))
    _exit(114);
  const int want_snd = int_opt(st[1], SO_SNDBUF), want_rcv = int_opt(dg, SO_RCVBUF);

  settle_and_wait(ready, {st[0], st[1], sq[0], sq[1], dg, sp, sa, ow, l, c3, s3, c1, c2, sh[0], sh[1], orp[0]});

  int bad = 0;
  // Names, both ends.
  if (sock_name(dg) != dname || sock_name(sp) != spath || sock_name(c3) != c3name || peer_name(c3) != lpath ||
      sock_name(s3) != lpath || peer_name(s3) != c3name || sock_name(l) != lpath || peer_name(ow) != dname ||
      sock_name(st[0]) != "" || peer_name(st[0]) != "")
    bad |= kSockBadNames;
  // Stream data both ways.
  Got a = recv_with(st[1]);
  Got b = recv_with(st[0]);
  if (a.data != "ab-1ab-2" || b.data != "ba-data") bad |= kSockBadData;
  Got x = recv_with(s3);
  if (x.data != "c3-to-s3") bad |= kSockBadData;
  // Seqpacket boundaries.
  Got q1 = recv_with(sq[1]), q2 = recv_with(sq[1]), q3 = recv_with(sq[1]);
  if (q1.data != r1 || q2.data != r2 || q3.data != r3 || recv_with(sq[1]).ok) bad |= kSockBadBoundaries;
  // Datagram senders, in order.
  const char* texts[] = {"from-path", "from-abstract", "from-unnamed", "from-closed", "one-way"};
  const std::string froms[] = {spath, std::string("\0flk-sa-", 8) + tag, "", std::string("\0flk-sc-", 8) + tag, ""};
  for (int i = 0; i < 5; ++i) {
    Got d = recv_with(dg);
    if (d.data != texts[i]) bad |= kSockBadData;
    if (d.from != froms[i]) bad |= kSockBadSenders;
  }
  // Pending connections: accept()able, in order, with their data.
  fcntl(l, F_SETFL, O_NONBLOCK);  // a missing connection must not block the check
  int a1 = accept4(l, nullptr, nullptr, SOCK_NONBLOCK), a2 = accept4(l, nullptr, nullptr, SOCK_NONBLOCK);
  if (a1 < 0 || a2 < 0 || accept4(l, nullptr, nullptr, SOCK_NONBLOCK) >= 0) {
    bad |= kSockBadBacklog;
  } else {
    if (recv_with(a1).data != "pending-1" || recv_with(a2).ok) bad |= kSockBadBacklog;
    if (write(a2, "hi", 2) != 2 || recv_with(c2).data != "hi" || sock_name(a1) != lpath) bad |= kSockBadBacklog;
  }
  // Shutdown: the data, then EOF; writing to a shut-down end fails.
  if (recv_with(sh[1]).data != "last words" || !is_eof(sh[1]) || write(sh[0], "x", 1) != -1 || errno != EPIPE)
    bad |= kSockBadShutdown;
  if (recv_with(orp[0]).data != "orphan" || !is_eof(orp[0])) bad |= kSockBadShutdown;
  // Options.
  if (int_opt(st[0], SO_PASSCRED) != 1 || int_opt(st[1], SO_PASSCRED) != 0 || int_opt(st[1], SO_SNDBUF) != want_snd ||
      int_opt(dg, SO_RCVBUF) != want_rcv || !(fcntl(sq[1], F_GETFL) & O_NONBLOCK) || (fcntl(sq[0], F_GETFL) & O_NONBLOCK))
    bad |= kSockBadOptions;
  // Everything still carries data.
  if (write(st[0], "more", 4) != 4 || recv_with(st[1]).data != "more") bad |= kSockBadData;
  if (!send_with(ow, "again", {}) || recv_with(dg).data != "again") bad |= kSockBadData;
  if (!send_with(sq[1], "back", {}) || recv_with(sq[0]).data != "back") bad |= kSockBadBoundaries;
  _exit(bad);
}

[[noreturn]] void flight_victim(int ready, const std::string& dir) {
  int cr[2], xy[2], sl[2], p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, cr) || socketpair(AF_UNIX, SOCK_STREAM, 0, xy) ||
      socketpair(AF_UNIX, SOCK_DGRAM, 0, sl) || pipe(p))
    _exit(103);
  if (write(p[1], "pipe-bytes", 10) != 10) _exit(104);
  int f = open((dir + "/file").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 3, SEEK_SET) != 3) _exit(105);
  int e = eventfd(7, 0);
  if (e < 0 || write(xy[0], "only-in-flight", 14) != 14) _exit(106);
  if (!send_with(cr[0], "files", {p[0], f, e}) || !send_with(cr[0], "socket", {xy[1]})) _exit(107);
  close(p[0]);
  close(e);
  close(xy[1]);  // now only in flight
  const std::string self = std::string("\0flk-self-", 10) + std::to_string(getpid());
  socklen_t len;
  sockaddr_un a = addr_of(self, len);
  if (bind(sl[0], reinterpret_cast<sockaddr*>(&a), len) != 0 || !send_with(sl[1], "loop", {sl[0]})) _exit(108);

  settle_and_wait(ready, {cr[0], cr[1], xy[0], sl[0], sl[1], p[1], f});

  int bad = 0;
  Got m1 = recv_with(cr[1], 5);
  Got m2 = recv_with(cr[1]);
  if (m1.data != "files" || m1.fds.size() != 3 || m2.data != "socket" || m2.fds.size() != 1) _exit(kFlightBadOrder);
  char buf[32] = {};
  fcntl(m1.fds[0], F_SETFL, O_NONBLOCK);
  struct stat st;
  if (fstat(m1.fds[0], &st) != 0 || !S_ISFIFO(st.st_mode) || read(m1.fds[0], buf, sizeof(buf)) != 10 ||
      std::memcmp(buf, "pipe-bytes", 10) != 0 || write(p[1], "z", 1) != 1 || read(m1.fds[0], buf, 1) != 1 || buf[0] != 'z')
    bad |= kFlightBadPipe;
  if (lseek(m1.fds[1], 0, SEEK_CUR) != 3 || read(m1.fds[1], buf, 3) != 3 || std::memcmp(buf, "345", 3) != 0)
    bad |= kFlightBadFile;
  if (lseek(f, 0, SEEK_CUR) != 6) bad |= kFlightBadShared;  // the process's own fd is the same description
  uint64_t count = 0;
  if (read(m1.fds[2], &count, 8) != 8 || count != 7) bad |= kFlightBadEventfd;
  int y = m2.fds[0];
  if (recv_with(y).data != "only-in-flight" || !send_with(y, "back", {}) || recv_with(xy[0]).data != "back" ||
      int_opt(y, SO_TYPE) != SOCK_STREAM)
    bad |= kFlightBadSocket;
  Got l = recv_with(sl[0]);
  if (l.data != "loop" || l.fds.size() != 1 || inode(l.fds[0]) != inode(sl[0]) || sock_name(l.fds[0]) != self ||
      !send_with(sl[1], "still", {}) || recv_with(sl[0]).data != "still")
    bad |= kFlightBadSelfLoop;
  _exit(bad);
}

[[noreturn]] void scm06_victim(int ready, const std::string& salt) {
  int ska[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ska) != 0) _exit(103);
  std::string names[2];
  for (int i = 0; i < 2; ++i) {
    names[i] = std::string("\0", 1) + static_cast<char>(i) + salt;
    socklen_t len;
    sockaddr_un a = addr_of(names[i], len);
    if (bind(ska[i], reinterpret_cast<sockaddr*>(&a), len) != 0) _exit(104);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      if (!send_with(ska[i], std::string(1, '\0'), {ska[j]})) _exit(105);

  settle_and_wait(ready, {ska[0], ska[1]});

  int skc = ska[0];
  for (int i = 0; i < 3; ++i) {
    Got g = recv_with(skc, 1);
    if (!g.ok || g.truncated || g.fds.size() != 1) _exit(kScmBadRecv);
    skc = g.fds[0];
    if (sock_name(skc) != names[i % 2]) _exit(kScmBadName);
  }
  _exit(kVictimOk);
}

[[noreturn]] void ring_victim(int ready, const std::string& salt) {
  std::string names[3];
  int r[3];
  for (int i = 0; i < 3; ++i) {
    names[i] = std::string("\0flk-ring-", 10) + std::to_string(i) + "-" + salt;
    r[i] = bound(SOCK_DGRAM, names[i]);
  }
  int h = socket(AF_UNIX, SOCK_DGRAM, 0);
  for (int i = 0; i < 3; ++i)
    if (!send_with(h, "ring", {r[(i + 1) % 3]}, &names[i])) _exit(104);
  close(h);
  close(r[1]);
  close(r[2]);  // only in flight now

  settle_and_wait(ready, {r[0]});

  int at = r[0];
  for (int i = 0; i < 3; ++i) {
    Got g = recv_with(at);
    if (!g.ok || g.data != "ring" || g.fds.size() != 1) _exit(kScmBadRecv);
    at = g.fds[0];
    if (sock_name(at) != names[(i + 1) % 3]) _exit(kScmBadName);
  }
  if (inode(at) != inode(r[0])) _exit(kScmBadName);
  _exit(kVictimOk);
}

[[noreturn]] void selfloop_victim(int ready, const std::string& salt) {
  const std::string name = std::string("\0flk-self-", 10) + salt;
  int s = bound(SOCK_DGRAM, name);
  int h = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (!send_with(h, "self-1", {s}, &name) || !send_with(h, "self-2", {s}, &name)) _exit(104);
  close(h);

  settle_and_wait(ready, {s});

  for (const char* want : {"self-1", "self-2"}) {
    Got g = recv_with(s);
    if (!g.ok || g.data != want || g.fds.size() != 1) _exit(kScmBadRecv);
    if (inode(g.fds[0]) != inode(s) || sock_name(g.fds[0]) != name) _exit(kScmBadName);
  }
  int t = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (!send_with(t, "alive", {}, &name) || recv_with(s).data != "alive") _exit(kScmBadRecv);
  _exit(kVictimOk);
}

}  // namespace

pid_t start_socket_victim(const std::string& dir) {
  return start_victim("socket victim", [&](int ready) { socket_victim(ready, dir); });
}
pid_t start_flight_victim(const std::string& dir) {
  return start_victim("in-flight victim", [&](int ready) { flight_victim(ready, dir); });
}
pid_t start_scm06_victim(const std::string& salt) {
  return start_victim("scm06 victim", [&](int ready) { scm06_victim(ready, salt); });
}
pid_t start_scm_ring_victim(const std::string& salt) {
  return start_victim("scm ring victim", [&](int ready) { ring_victim(ready, salt); });
}
pid_t start_scm_selfloop_victim(const std::string& salt) {
  return start_victim("scm self-loop victim", [&](int ready) { selfloop_victim(ready, salt); });
}

}  // namespace flakelab::victims
