#include "flakelab/victims/tree_victims.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "flakelab/victims/victims.h"
#include "unix_messages.h"

namespace flakelab::victims {
namespace {

// What a process is, saved once it is set up and compared after restore.
struct Identity {
  pid_t pid, ppid, sid, pgid;
};

Identity me() { return {getpid(), getppid(), getsid(0), getpgid(0)}; }

int identity_damage(const Identity& saved) {
  Identity now = me();
  int bad = 0;
  if (now.pid != saved.pid) bad |= kTreeBadPid;
  if (now.ppid != saved.ppid) bad |= kTreeBadPpid;
  if (now.sid != saved.sid) bad |= kSessionBadSid;
  if (now.pgid != saved.pgid) bad |= kSessionBadPgid;
  return bad;
}

sigset_t usr1_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  return s;
}

// Blocked before any fork, so every process of the tree inherits it.
void block_usr1() {
  sigset_t s = usr1_set();
  sigprocmask(SIG_BLOCK, &s, nullptr);
}

void wait_usr1() {
  sigset_t s = usr1_set();
  while (sigwaitinfo(&s, nullptr) != SIGUSR1) {
  }
}

// A forked child that dies with its parent and never returns from `body`.
pid_t fork_node(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    body();
    _exit(127);
  }
  return pid;
}

// SIGUSR1 to each child in turn, then its exit status: the damage it reported,
// or kTreeBadChild if it is gone or was killed.
int release_children(const std::vector<pid_t>& kids) {
  int bad = 0;
  for (pid_t k : kids) {
    if (kill(k, SIGUSR1) != 0) {
      bad |= kTreeBadChild;
      continue;
    }
    int status = 0;
    pid_t r;
    do {
      r = waitpid(k, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != k || !WIFEXITED(status)) bad |= kTreeBadChild;
    else bad |= WEXITSTATUS(status);
  }
  return bad;
}

}  // namespace

int clean_victim_fds(int ready) {
  if (ready != 63 && (dup2(ready, 63) != 63 || close(ready) != 0)) _exit(1);
  syscall(SYS_close_range, 3, 62, 0);
  syscall(SYS_close_range, 64, ~0u, 0);
  // stdio too: under ctest it is a pipe the test runner holds, outside the tree.
  int null = open("/dev/null", O_RDWR);
  if (null < 0) _exit(1);
  for (int fd = 0; fd < 3; ++fd)
    if (fd != null && dup2(null, fd) != fd) _exit(1);
  if (null > 2) close(null);
  return 63;
}

namespace {

void say(int fd) {
  if (write(fd, "r", 1) != 1) _exit(126);
}

// Waits for `n` processes of the tree to report set up on `fd`.
bool hear(int fd, int n) {
  char buf[64];
  int got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf, std::min<size_t>(sizeof(buf), static_cast<size_t>(n - got)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<int>(r);
  }
  return true;
}

// A memory pattern of its own in each process (heap, 64 KiB).
struct Pattern {
  explicit Pattern(uint64_t seed) : seed(seed), words(8192) {
    for (size_t i = 0; i < words.size(); ++i) words[i] = seed * 0x9e3779b97f4a7c15ull + i;
  }
  int damage() const {
    for (size_t i = 0; i < words.size(); ++i)
      if (words[i] != seed * 0x9e3779b97f4a7c15ull + i) return kTreeBadMemory;
    return 0;
  }
  uint64_t seed;
  std::vector<uint64_t> words;
};

// A process of a tree: runs `setup` (which forks its children and returns
// them), saves its identity, reports on `sync`, waits for SIGUSR1, then checks
// itself (plus `check`) and its children and exits with the damage.
[[noreturn]] void node(uint64_t seed, int sync, const std::function<std::vector<pid_t>()>& setup,
                       const std::function<int()>& check = nullptr) {
  Pattern pattern(seed);
  std::vector<pid_t> kids = setup ? setup() : std::vector<pid_t>{};
  Identity saved = me();
  say(sync);
  wait_usr1();
  int bad = identity_damage(saved) | pattern.damage();
  if (check) bad |= check();
  bad |= release_children(kids);
  _exit(bad);
}

// --- the tree victim ---

std::atomic<pid_t> g_thread_tid{0};
std::atomic<uint32_t> g_thread_go{0};
std::atomic<int> g_thread_ok{0};
std::thread* g_thread = nullptr;

void waiting_thread() {
  g_thread_tid = static_cast<pid_t>(syscall(SYS_gettid));
  pid_t mine = g_thread_tid;
  while (g_thread_go.load() == 0)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_thread_go), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  g_thread_ok = static_cast<pid_t>(syscall(SYS_gettid)) == mine ? 1 : 0;
}

void tree_victim(int ready) {
  ready = clean_victim_fds(ready);
  block_usr1();
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) _exit(1);
  node(1, ready, [&] {
    pid_t a = fork_node([&] {
      node(2, sync[1], [&] {
        pid_t a1 = fork_node([&] {
          node(3, sync[1], [&] { return std::vector<pid_t>{fork_node([&] { node(4, sync[1], nullptr); })}; });
        });
        // After the fork: a child of a multithreaded process may only run simple code.
        g_thread = new std::thread(waiting_thread);
        while (g_thread_tid.load() == 0) usleep(100);
        return std::vector<pid_t>{a1};
      }, [] {
        // The second thread: still there with its tid, and it runs.
        pid_t tid = g_thread_tid;
        struct stat st;
        int bad = stat(("/proc/self/task/" + std::to_string(tid)).c_str(), &st) == 0 ? 0 : kTreeBadThread;
        g_thread_go = 1;
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_thread_go), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
        g_thread->join();  // needs its clear_child_tid
        return bad | (g_thread_ok ? 0 : kTreeBadThread);
      });
    });
    pid_t b = fork_node([&] { node(5, sync[1], nullptr); });
    if (!hear(sync[0], 4)) _exit(1);
    return std::vector<pid_t>{a, b};
  });
}

}  // namespace

pid_t start_tree_victim() {
  return start_victim("tree victim", [](int ready) { tree_victim(ready); });
}

namespace {

// --- sessions and groups ---

void session_victim(int ready) {
  ready = clean_victim_fds(ready);
  block_usr1();
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) _exit(1);
  node(10, ready, [&] {
    pid_t s = fork_node([&] {
      if (setsid() != getpid()) _exit(1);
      node(11, sync[1], [&] {
        pid_t s1 = fork_node([&] {
          setpgid(0, 0);
          node(12, sync[1], [&] { return std::vector<pid_t>{fork_node([&] { node(13, sync[1], nullptr); })}; });
        });
        setpgid(s1, s1);  // both sides, so that neither order races
        pid_t s3 = fork_node([&] {
          setpgid(0, s1);
          if (getpgid(0) != s1) _exit(1);
          node(14, sync[1], nullptr);
        });
        setpgid(s3, s1);
        return std::vector<pid_t>{s1, s3};
      });
    });
    pid_t g = fork_node([&] {
      setpgid(0, 0);
      node(15, sync[1], [&] { return std::vector<pid_t>{fork_node([&] { node(16, sync[1], nullptr); })}; });
    });
    setpgid(g, g);
    pid_t h = fork_node([&] {
      setpgid(0, g);
      if (getpgid(0) != g) _exit(1);
      node(17, sync[1], nullptr);
    });
    setpgid(h, g);
    if (!hear(sync[0], 7)) _exit(1);
    return std::vector<pid_t>{s, g, h};
  });
}

// --- objects shared between parent and child ---

bool move_fd(int from, int to) {
  if (from == to) return true;
  if (dup2(from, to) != to) return false;
  close(from);
  return true;
}

std::string read_all(int fd, size_t max) {
  std::string out;
  char buf[256];
  while (out.size() < max) {
    ssize_t n = read(fd, buf, std::min(sizeof(buf), max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool write_str(int fd, const std::string& s) { return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }

void shared_files_victim(int ready, const std::string& dir) {
  ready = clean_victim_fds(ready);
  block_usr1();
  std::string fifo = dir + "/shared-fifo";
  int tc[2], tp[2], sync[2];
  if (mkfifo(fifo.c_str(), 0600) != 0 || pipe(tc) != 0 || pipe(tp) != 0 || pipe2(sync, O_CLOEXEC) != 0) _exit(1);
  if (!move_fd(tc[0], kSharedToChildRead) || !move_fd(tc[1], kSharedToChildWrite) || !move_fd(tp[0], 22) ||
      !move_fd(tp[1], 23))
    _exit(1);
  int efd = eventfd(5, 0);
  int fifo_r = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  if (efd < 0 || !move_fd(efd, kSharedEventfd) || fifo_r < 0 || !move_fd(fifo_r, 25)) _exit(1);
  pid_t child = fork_node([&] {
    close(kSharedToChildWrite);
    close(22);
    int w = open(fifo.c_str(), O_WRONLY);
    if (w < 0 || !move_fd(w, 26)) _exit(1);
    if (!write_str(23, "to-parent") || !write_str(26, "fifo-data")) _exit(1);
    say(sync[1]);
    wait_usr1();
    int bad = 0;
    if (read_all(kSharedToChildRead, 12) != "to-childping") bad |= kSharedBadPipe;
    if (!write_str(23, "pong") || !write_str(26, "fifo2")) bad |= kSharedBadReply;
    uint64_t seven = 7;
    if (write(kSharedEventfd, &seven, 8) != 8) bad |= kSharedBadEventfd;
    _exit(bad);
  });
  close(kSharedToChildRead);
  close(23);
  if (!write_str(kSharedToChildWrite, "to-child") || !hear(sync[0], 1)) _exit(1);
  Identity saved = me();
  say(ready);
  wait_usr1();
  int bad = identity_damage(saved);
  if (!write_str(kSharedToChildWrite, "ping")) bad |= kSharedBadPipe;
  bad |= release_children({child});
  if (read_all(22, 64) != "to-parentpong") bad |= kSharedBadReply;  // EOF once the child is gone
  if (read_all(25, 64) != "fifo-datafifo2") bad |= kSharedBadFifo;
  uint64_t count = 0;
  if (read(kSharedEventfd, &count, 8) != 8 || count != 12) bad |= kSharedBadEventfd;
  unlink(fifo.c_str());
  _exit(bad);
}

// --- unix sockets across the tree ---

void tree_socket_victim(int ready) {
  ready = clean_victim_fds(ready);
  block_usr1();
  int sp[2], sync[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0 || pipe2(sync, O_CLOEXEC) != 0) _exit(1);
  if (!move_fd(sp[0], kTreeSockParentEnd) || !move_fd(sp[1], kTreeSockChildEnd)) _exit(1);
  // The shared datagram socket, bound to an abstract name of our own.
  std::string name = std::string("\0flakelab-tree-sock-", 20) + std::to_string(getpid());
  socklen_t len;
  sockaddr_un addr = addr_of(name, len);
  int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (dg < 0 || !move_fd(dg, kTreeSockShared) || bind(kTreeSockShared, reinterpret_cast<sockaddr*>(&addr), len) != 0)
    _exit(1);
  pid_t child = fork_node([&] {
    close(kTreeSockParentEnd);
    int pp[2], sq[2];
    if (pipe(pp) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sq) != 0) _exit(1);
    if (!move_fd(pp[0], 34) || !move_fd(pp[1], 35) || !move_fd(sq[0], 36) || !move_fd(sq[1], 37)) _exit(1);
    // In flight in the parent's socket: a pipe end and a socket this process holds too.
    if (!write_str(35, "piped") || !send_with(kTreeSockChildEnd, "F", {34, 36}) ||
        !write_str(kTreeSockChildEnd, "hello-parent"))
      _exit(1);
    say(sync[1]);
    wait_usr1();
    int bad = 0;
    if (read_all(kTreeSockChildEnd, 15) != "hello-childping") bad |= kTreeSockBadStream;
    if (read_all(37, 6) != "via-sq") bad |= kTreeSockBadFlight;
    char buf[64];
    ssize_t n = recv(kTreeSockShared, buf, sizeof(buf), MSG_DONTWAIT);
    if (n != 2 || std::string(buf, 2) != "d1") bad |= kTreeSockBadDgram;
    _exit(bad);
  });
  close(kTreeSockChildEnd);
  int unnamed = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (unnamed < 0 || !move_fd(unnamed, 33)) _exit(1);
  if (!write_str(kTreeSockParentEnd, "hello-child") ||
      sendto(33, "d1", 2, 0, reinterpret_cast<sockaddr*>(&addr), len) != 2 || !hear(sync[0], 1))
    _exit(1);
  Identity saved = me();
  say(ready);
  wait_usr1();
  int bad = identity_damage(saved);
  Got got = recv_with(kTreeSockParentEnd, 1, 0);
  if (!got.ok || got.data != "F" || got.fds.size() != 2) {
    bad |= kTreeSockBadFlight;
  } else {
    if (read_all(got.fds[0], 5) != "piped") bad |= kTreeSockBadFlight;
    if (!write_str(got.fds[1], "via-sq")) bad |= kTreeSockBadFlight;
  }
  if (read_all(kTreeSockParentEnd, 12) != "hello-parent" || !write_str(kTreeSockParentEnd, "ping"))
    bad |= kTreeSockBadStream;
  bad |= release_children({child});
  _exit(bad);
}

// --- one file offset shared through fork ---

void shared_offset_victim(int ready, const std::string& dir) {
  ready = clean_victim_fds(ready);
  block_usr1();
  std::string path = dir + "/shared-offset";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  int sync[2];
  if (fd < 0 || !move_fd(fd, 20) || pipe2(sync, O_CLOEXEC) != 0) _exit(1);
  std::string content;
  for (int i = 0; i < 100; ++i) content.push_back(static_cast<char>('0' + i % 10));
  if (!write_str(20, content) || lseek(20, 10, SEEK_SET) != 10) _exit(1);
  pid_t child = fork_node([&] {
    if (lseek(20, 42, SEEK_SET) != 42) _exit(1);  // moves the parent's offset too
    say(sync[1]);
    wait_usr1();
    int bad = lseek(20, 0, SEEK_CUR) == 43 ? 0 : kOffsetBad;
    std::string expect = content;
    expect[42] = 'X';
    char buf[128];
    if (pread(20, buf, sizeof(buf), 0) != 100 || std::string(buf, 100) != expect) bad |= kOffsetBadContent;
    _exit(bad);
  });
  if (!hear(sync[0], 1) || lseek(20, 0, SEEK_CUR) != 42) _exit(1);
  Identity saved = me();
  say(ready);
  wait_usr1();
  int bad = identity_damage(saved);
  if (lseek(20, 0, SEEK_CUR) != 42) bad |= kOffsetBad;
  if (write(20, "X", 1) != 1) bad |= kOffsetBadContent;
  bad |= release_children({child});
  _exit(bad);
}

// --- unreaped children ---

std::atomic<int> g_sigchld{0};

void count_sigchld(int) { g_sigchld.fetch_add(1); }

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

void zombie_victim(int ready) {
  ready = clean_victim_fds(ready);
  block_usr1();
  struct sigaction sa {};
  sa.sa_handler = count_sigchld;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, nullptr);
  pid_t exited = fork();
  if (exited == 0) _exit(42);
  pid_t killed = fork_node([] {
    for (;;) pause();
  });
  if (exited < 0 || killed < 0 || kill(killed, SIGTERM) != 0) _exit(1);
  for (int i = 0; i < 5000 && (state_of(exited) != 'Z' || state_of(killed) != 'Z' || g_sigchld == 0); ++i) usleep(1000);
  if (state_of(exited) != 'Z' || state_of(killed) != 'Z') _exit(1);
  usleep(2000);  // let both SIGCHLDs be delivered (they may also merge into one)
  int before = g_sigchld;
  Identity saved = me();
  say(ready);
  wait_usr1();
  int bad = identity_damage(saved);
  if (g_sigchld != before) bad |= kZombieBadSigchld;
  int status = 0;
  if (waitpid(exited, &status, WNOHANG) != exited || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
    bad |= kZombieBadStatus;
  if (waitpid(killed, &status, WNOHANG) != killed || !WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM ||
      WCOREDUMP(status))
    bad |= kZombieBadStatus;
  if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD) bad |= kTreeBadChild;
  _exit(bad);
}

// --- forking while being dumped ---

void forking_victim(int ready) {
  ready = clean_victim_fds(ready);
  block_usr1();
  static pid_t kids[kForkingMax];
  int n = 0;
  Identity saved = me();
  sigset_t usr1 = usr1_set();
  timespec interval{0, 2000000};
  say(ready);  // and closed, so that children do not hold the caller's pipe
  close(ready);
  for (;;) {
    if (sigtimedwait(&usr1, nullptr, n < kForkingMax ? &interval : nullptr) == SIGUSR1) break;
    if (n >= kForkingMax) continue;
    pid_t parent = getpid();
    pid_t k = fork_node([parent] {
      wait_usr1();
      _exit(getppid() == parent ? 0 : kTreeBadPpid);
    });
    if (k < 0) _exit(1);
    kids[n++] = k;
  }
  int bad = identity_damage(saved);
  bad |= release_children(std::vector<pid_t>(kids, kids + n));
  int status;
  if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD) bad |= kForkingBadCount;
  _exit(bad);
}

}  // namespace

pid_t start_session_victim() {
  return start_victim("session victim", [](int ready) { session_victim(ready); });
}

pid_t start_shared_files_victim(const std::string& dir) {
  return start_victim("shared files victim", [&](int ready) { shared_files_victim(ready, dir); });
}

pid_t start_shared_offset_victim(const std::string& dir) {
  return start_victim("shared offset victim", [&](int ready) { shared_offset_victim(ready, dir); });
}

pid_t start_tree_socket_victim() {
  return start_victim("tree socket victim", [](int ready) { tree_socket_victim(ready); });
}

pid_t start_zombie_victim() {
  return start_victim("zombie victim", [](int ready) { zombie_victim(ready); });
}

pid_t start_forking_victim() {
  return start_victim("forking victim", [](int ready) { forking_victim(ready); });
}

std::vector<pid_t> descendants(pid_t pid) {
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {pid};
  for (size_t i = 0; i < todo.size(); ++i) {
    std::vector<pid_t> tids;
    try {
      tids = thread_ids(todo[i]);
    } catch (const std::exception&) {
      continue;  // gone
    }
    for (pid_t tid : tids) {
      std::ifstream in("/proc/" + std::to_string(todo[i]) + "/task/" + std::to_string(tid) + "/children");
      for (pid_t c; in >> c;) {
        todo.push_back(c);
        out.push_back(c);
      }
    }
  }
  return out;
}

}  // namespace flakelab::victims
