#include "flakelab/victims/victims.h"

#include "flakelab/victims/registers.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace flakelab::victims {
namespace {




constexpr size_t kPage = 4096;
constexpr size_t kBigSize = 64 << 20;
constexpr size_t kBigStride = 97;  // touch every 97th page

volatile sig_atomic_t g_wake = 0;
void on_usr1(int) { g_wake = 1; }

uint8_t pattern(size_t page, size_t i) { return static_cast<uint8_t>(page * 31 + i * 7 + 3); }

void fill(uint8_t* p, size_t page_no) {
  for (size_t i = 0; i < kPage; ++i) p[i] = pattern(page_no, i);
}
bool check(const uint8_t* p, size_t page_no) {
  for (size_t i = 0; i < kPage; ++i)
    if (p[i] != pattern(page_no, i)) return false;
  return true;
}

[[noreturn]] void memory_victim(int ready_fd) {
  // Only the ready pipe stays open: the engine does not restore files yet.
  if (ready_fd > 0) syscall(SYS_close_range, 0, ready_fd - 1, 0);
  syscall(SYS_close_range, ready_fd + 1, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);

  auto* big = static_cast<uint8_t*>(mmap(nullptr, kBigSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* ro = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* guard = static_cast<uint8_t*>(mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (big == MAP_FAILED || ro == MAP_FAILED || guard == MAP_FAILED) _exit(100);
  for (size_t pg = 0; pg < kBigSize / kPage; pg += kBigStride) fill(big + pg * kPage, pg);
  fill(ro, 1001);
  mprotect(ro, kPage, PROT_READ);
  fill(guard, 2001);
  fill(guard + kPage, 2002);
  fill(guard + 2 * kPage, 2003);
  mprotect(guard + kPage, kPage, PROT_NONE);
  auto* heap = static_cast<uint8_t*>(malloc(5 * kPage));
  for (size_t k = 0; k < 5; ++k) fill(heap + k * kPage, 3000 + k);
  uint8_t stack_buf[2 * kPage];
  fill(stack_buf, 4000);
  fill(stack_buf + kPage, 4001);

  RegSnapshot want{};
  for (int i = 0; i < 5; ++i) want.gp[i] = 0x0123456789abcdefULL * static_cast<uint64_t>(i + 3) ^ 0x5a5a;
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 32; ++b) want.ymm[r][b] = static_cast<uint8_t>(0x80 + r * 32 + b);

  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) _exit(101);
  close(ready_fd);

  RegSnapshot got{};
  int bad = 0;
  for (;;) {
    got = {};
    long r = syscall_keeping_registers(SYS_pause, 0, 0, 0, 0, &want, &got);
    if (r != -EINTR) _exit(102);
    if (g_wake) break;
  }
  if (std::memcmp(&want, &got, sizeof(want)) != 0) bad |= kVictimBadRegs;
  for (size_t pg = 0; pg < kBigSize / kPage; ++pg) {
    const uint8_t* p = big + pg * kPage;
    if (pg % kBigStride == 0) {
      if (!check(p, pg)) bad |= kVictimBadBig;
    } else {
      for (size_t i = 0; i < kPage; i += 512)
        if (p[i] != 0) bad |= kVictimBadUntouched;
    }
  }
  if (!check(ro, 1001)) bad |= kVictimBadReadOnly;
  // The guard page must still be inaccessible (mprotect to read it succeeds only
  // if the mapping exists) and hold its data.
  if (mprotect(guard + kPage, kPage, PROT_READ) != 0 || !check(guard, 2001) || !check(guard + kPage, 2002) ||
      !check(guard + 2 * kPage, 2003))
    bad |= kVictimBadGuard;
  for (size_t k = 0; k < 5; ++k)
    if (!check(heap + k * kPage, 3000 + k)) bad |= kVictimBadHeap;
  if (!check(stack_buf, 4000) || !check(stack_buf + kPage, 4001)) bad |= kVictimBadStack;
  _exit(bad);
}

constexpr int kMaxThreads = 16;
struct ThreadResult {
  pid_t tid_before;
  int bad;
};
ThreadResult g_results[kMaxThreads];
std::atomic<int> g_parked{0};
uint32_t g_go = 0;  // futex word
thread_local uint64_t t_tls = 0;

RegSnapshot thread_pattern(int i) {
  RegSnapshot s{};
  for (int k = 0; k < 5; ++k) s.gp[k] = 0x1000000000000001ULL * static_cast<uint64_t>(k + 1) + static_cast<uint64_t>(i) * 0x10101;
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 32; ++b) s.ymm[r][b] = static_cast<uint8_t>(i * 16 + r * 32 + b);
  return s;
}

void thread_body(int i) {
  t_tls = 0xabc0 + static_cast<uint64_t>(i);
  g_results[i].tid_before = static_cast<pid_t>(syscall(SYS_gettid));
  RegSnapshot want = thread_pattern(i + 1), got{};
  g_parked.fetch_add(1);
  while (__atomic_load_n(&g_go, __ATOMIC_SEQ_CST) == 0) {
    got = {};
    syscall_keeping_registers(SYS_futex, reinterpret_cast<long>(&g_go), FUTEX_WAIT_PRIVATE, 0, 0, &want, &got);
  }
  int bad = 0;
  if (std::memcmp(&want, &got, sizeof(want)) != 0) bad |= kThreadBadRegs;
  if (syscall(SYS_gettid) != g_results[i].tid_before) bad |= kThreadBadTid;
  if (t_tls != 0xabc0 + static_cast<uint64_t>(i)) bad |= kThreadBadTls;
  g_results[i].bad = bad;
}

[[noreturn]] void thread_victim(int ready_fd, int n) {
  if (ready_fd > 0) syscall(SYS_close_range, 0, ready_fd - 1, 0);
  syscall(SYS_close_range, ready_fd + 1, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  // Only the main thread takes SIGUSR1.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(thread_body, i);
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
  while (g_parked.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  RegSnapshot want = thread_pattern(0), got{};
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) _exit(101);
  close(ready_fd);
  for (;;) {
    got = {};
    syscall_keeping_registers(SYS_pause, 0, 0, 0, 0, &want, &got);
    if (g_wake) break;
  }
  int bad = std::memcmp(&want, &got, sizeof(want)) != 0 ? kThreadBadMainRegs : 0;
  __atomic_store_n(&g_go, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, &g_go, FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) bad |= g_results[i].bad;
  _exit(bad);
}

[[noreturn]] void file_victim(int ready_fd, const std::string& dir) {
  std::string path = dir + "/data";
  int a = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (a < 0 || write(a, "0123456789abcdef", 16) != 16 || lseek(a, 5, SEEK_SET) != 5) _exit(100);
  if (dup2(a, 9) != 9) _exit(100);
  int c = open(path.c_str(), O_WRONLY | O_APPEND);
  int n = open("/dev/null", O_RDWR | O_CLOEXEC);
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (c < 0 || n < 0 || d < 0) _exit(100);
  // Everything else goes, so that only supported files remain.
  for (int fd = 0; fd < 64; ++fd)
    if (fd != a && fd != 9 && fd != c && fd != n && fd != d && fd != ready_fd) close(fd);
  if (std::max({a, c, n, d, ready_fd}) >= 64) _exit(100);
  syscall(SYS_close_range, 64, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
  int bad = 0;
  char buf[4] = {};
  if (lseek(a, 0, SEEK_CUR) != 5 || read(a, buf, 3) != 3 || std::memcmp(buf, "567", 3) != 0) bad |= kFileBadOffset;
  if (lseek(9, 0, SEEK_CUR) != 8) bad |= kFileBadShared;
  if (!(fcntl(c, F_GETFL) & O_APPEND) || write(c, "XY", 2) != 2 || lseek(a, 0, SEEK_END) != 18) bad |= kFileBadAppend;
  if (!(fcntl(n, F_GETFD) & FD_CLOEXEC) || (fcntl(a, F_GETFD) & FD_CLOEXEC) || (fcntl(9, F_GETFD) & FD_CLOEXEC))
    bad |= kFileBadCloexec;
  struct stat st;
  if (fstat(n, &st) != 0 || !S_ISCHR(st.st_mode) || write(n, "x", 1) != 1) bad |= kFileBadDevNull;
  int again = openat(d, "data", O_RDONLY);
  if (fstat(d, &st) != 0 || !S_ISDIR(st.st_mode) || again < 0) bad |= kFileBadDir;
  _exit(bad);
}

constexpr size_t kPipeBytes = 100000;
uint8_t pipe_pattern(size_t i) { return static_cast<uint8_t>(i * 13 + 5); }

[[noreturn]] void pipe_victim(int ready_fd) {
  int a[2], b[2];
  if (pipe(a) != 0 || pipe2(b, O_NONBLOCK) != 0) _exit(100);
  if (fcntl(a[1], F_SETPIPE_SZ, 256 * 1024) < 256 * 1024) _exit(100);
  std::vector<uint8_t> data(kPipeBytes);
  for (size_t i = 0; i < data.size(); ++i) data[i] = pipe_pattern(i);
  if (write(a[1], data.data(), data.size()) != static_cast<ssize_t>(data.size())) _exit(100);
  int w2 = dup(a[1]);
  for (int fd = 0; fd < 64; ++fd)
    if (fd != a[0] && fd != a[1] && fd != b[0] && fd != b[1] && fd != w2 && fd != ready_fd) close(fd);
  syscall(SYS_close_range, 64, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
  int bad = 0;
  if (fcntl(a[0], F_GETPIPE_SZ) != 256 * 1024) bad |= kPipeBadCapacity;
  std::vector<uint8_t> got(kPipeBytes + 1);
  size_t n = 0;
  fcntl(a[0], F_SETFL, O_NONBLOCK);
  for (;;) {
    ssize_t k = read(a[0], got.data() + n, got.size() - n);
    if (k <= 0) break;
    n += static_cast<size_t>(k);
  }
  if (n != kPipeBytes || std::memcmp(got.data(), data.data(), kPipeBytes) != 0) bad |= kPipeBadData;
  char c;
  if (!(fcntl(b[0], F_GETFL) & O_NONBLOCK) || read(b[0], &c, 1) != -1 || errno != EAGAIN) bad |= kPipeBadNonblock;
  if (write(w2, "z", 1) != 1 || read(a[0], &c, 1) != 1 || c != 'z' || write(b[1], "y", 1) != 1 ||
      read(b[0], &c, 1) != 1 || c != 'y')
    bad |= kPipeBadUse;
  _exit(bad);
}

[[noreturn]] void signal_victim(int ready_fd) {
  if (ready_fd > 0) syscall(SYS_close_range, 0, ready_fd - 1, 0);
  syscall(SYS_close_range, ready_fd + 1, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  sigset_t rt, usr2, both;
  sigemptyset(&rt);
  sigaddset(&rt, SIGRTMIN + 1);
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigemptyset(&both);
  sigaddset(&both, SIGRTMIN + 1);
  sigaddset(&both, SIGUSR2);
  sigprocmask(SIG_BLOCK, &both, nullptr);
  for (int v : {42, 43}) {
    union sigval val;
    val.sival_int = v;
    if (sigqueue(getpid(), SIGRTMIN + 1, val) != 0) _exit(100);
  }
  if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2) != 0) _exit(100);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
  int bad = 0;
  timespec zero{};
  siginfo_t si;
  for (int want : {42, 43}) {
    int s = sigtimedwait(&rt, &si, &zero);
    if (s != SIGRTMIN + 1 || si.si_value.sival_int != want || si.si_code != SI_QUEUE || si.si_pid != getpid())
      bad |= kSignalBadShared;
  }
  // Raw syscall: glibc's sigtimedwait reports SI_TKILL as SI_USER.
  if (syscall(SYS_rt_sigtimedwait, &usr2, &si, &zero, 8) != SIGUSR2 || si.si_code != SI_TKILL || si.si_pid != getpid())
    bad |= kSignalBadPrivate;
  if (sigtimedwait(&both, &si, &zero) != -1 || errno != EAGAIN) bad |= kSignalBadExtra;
  _exit(bad);
}

volatile sig_atomic_t g_ticks = 0;
void on_alarm(int) { g_ticks = g_ticks + 1; }
alignas(16) uint8_t g_altstack[64 * 1024];

[[noreturn]] void attr_victim(int ready_fd, const std::string& dir) {
  if (ready_fd > 0) syscall(SYS_close_range, 0, ready_fd - 1, 0);
  syscall(SYS_close_range, ready_fd + 1, ~0u, 0);
  if (chdir(dir.c_str()) != 0) _exit(100);
  umask(027);
  struct rlimit lim{100, 200};
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(100);
  stack_t ss{};
  ss.ss_sp = g_altstack;
  ss.ss_size = sizeof(g_altstack);
  if (sigaltstack(&ss, nullptr) != 0) _exit(100);
  if (personality(ADDR_NO_RANDOMIZE) < 0) _exit(100);
  prctl(PR_SET_NAME, "attr-victim");
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, nullptr);
  itimerval every5ms{{0, 5000}, {0, 5000}};
  setitimer(ITIMER_REAL, &every5ms, nullptr);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
  int bad = 0;
  char cwd[4096];
  if (!getcwd(cwd, sizeof(cwd)) || dir != cwd) bad |= kAttrBadCwd;
  if (umask(0) != 027) bad |= kAttrBadUmask;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 100 || lim.rlim_max != 200) bad |= kAttrBadRlimit;
  stack_t now{};
  if (sigaltstack(nullptr, &now) != 0 || now.ss_sp != g_altstack || now.ss_size != sizeof(g_altstack))
    bad |= kAttrBadAltstack;
  if (personality(0xffffffff) != ADDR_NO_RANDOMIZE) bad |= kAttrBadPersonality;
  char comm[16] = {};
  prctl(PR_GET_NAME, comm);
  if (std::string(comm) != "attr-victim") bad |= kAttrBadComm;
  int before = g_ticks;
  for (int i = 0; i < 100 && g_ticks < before + 3; ++i) usleep(2000);
  if (g_ticks < before + 3) bad |= kAttrBadTimer;
  _exit(bad);
}

}  // namespace

namespace {
std::function<void()>& victim_setup() {
  static std::function<void()> setup;
  return setup;
}
}  // namespace

namespace {

// Polling for a state change of another process: the change usually comes
// within microseconds (a victim going back to sleep), so start short and
// grow to 1 ms instead of sleeping a whole millisecond every time.
class Backoff {
 public:
  void pause() {
    std::this_thread::sleep_for(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::microseconds(1000));
  }

 private:
  std::chrono::microseconds delay_{20};
};

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// Victims are forks of the calling process, and a dump copies every page they
// have. ASan's quarantine keeps up to 256 MB of freed memory resident by default,
// so every victim of a long test inherited it and every dump copied it (scm06:
// 1 s per trial instead of 0.1 s). A small quarantine still catches recent
// use-after-free; ASAN_OPTIONS in the environment overrides this. Defined here,
// in the object every victim-starting program links.
extern "C" __attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "quarantine_size_mb=8:thread_local_quarantine_size_kb=256";
}
#endif

void set_victim_setup(std::function<void()> setup) { victim_setup() = std::move(setup); }

namespace {
int g_body_here_ready_fd = -1;
}

void run_victim_body_here(int ready_fd) { g_body_here_ready_fd = ready_fd; }

pid_t start_victim(const std::string& what, const std::function<void(int)>& body, bool all_threads) {
  if (g_body_here_ready_fd >= 0) {
    body(g_body_here_ready_fd);
    _exit(127);  // bodies end in _exit(); returning is a bug in the victim
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(what + ": pipe: " + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    throw std::runtime_error(what + ": fork: " + std::strerror(err));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fds[0]);
    if (victim_setup()) victim_setup()();
    body(fds[1]);
    _exit(127);  // bodies end in _exit(); returning is a bug in the victim
  }
  close(fds[1]);
  char c = 0;
  ssize_t n = read(fds[0], &c, 1);
  close(fds[0]);
  if (n != 1 || !(all_threads ? wait_all_sleeping(pid) : wait_sleeping(pid))) {
    kill_child(pid);
    throw std::runtime_error(what + " did not start");
  }
  return pid;
}

pid_t start_attr_victim(const std::string& dir) {
  return start_victim("attributes victim", [&](int ready) { attr_victim(ready, dir); });
}

pid_t start_signal_victim() {
  return start_victim("signal victim", [](int ready) { signal_victim(ready); });
}

pid_t start_pipe_victim() {
  return start_victim("pipe victim", [](int ready) { pipe_victim(ready); });
}

pid_t start_file_victim(const std::string& dir) {
  return start_victim("file victim", [&](int ready) { file_victim(ready, dir); });
}

std::vector<int> fd_numbers(pid_t pid) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    out.push_back(std::stoi(e.path().filename().string()));
  std::sort(out.begin(), out.end());
  return out;
}

pid_t start_thread_victim(int threads) {
  if (threads > kMaxThreads) throw std::runtime_error("too many threads");
  return start_victim("thread victim", [&](int ready) { thread_victim(ready, threads); }, true);
}

std::vector<pid_t> thread_ids(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
    out.push_back(std::stoi(e.path().filename().string()));
  std::sort(out.begin(), out.end());
  return out;
}

bool wait_all_sleeping(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Backoff backoff;
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    try {
      for (pid_t tid : thread_ids(pid)) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        size_t close = text.rfind(')');
        if (close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'S') all = false;
      }
    } catch (const std::exception&) {
      all = false;
    }
    if (all) return true;
    backoff.pause();
  }
  return false;
}

pid_t start_memory_victim() {
  return start_victim("memory victim", [](int ready) { memory_victim(ready); });
}

int wait_exit(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // A pidfd becomes readable the moment the process exits: no polling delay.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  Backoff backoff;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) {
      if (pidfd >= 0) close(pidfd);
      return r == pid ? status : -1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      if (pidfd >= 0) close(pidfd);
      kill_child(pid);
      return -1;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 100)));
    } else {
      backoff.pause();
    }
  }
}

bool wait_sleeping(pid_t pid, int timeout_ms) { return wait_state(pid, 'S', timeout_ms); }

bool wait_state(pid_t pid, char state, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  Backoff backoff;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == state) return true;
    backoff.pause();
  }
  return false;
}

std::string maps_summary(pid_t pid) {
  struct Line {
    unsigned long long start, end, off;
    std::string perms, path;
  };
  std::vector<Line> lines;
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string range, perms, off, dev, inode, path;
    l >> range >> perms >> off >> dev >> inode;
    std::getline(l, path);
    size_t b = path.find_first_not_of(' ');
    path = b == std::string::npos ? "" : path.substr(b);
    Line e{std::stoull(range.substr(0, range.find('-')), nullptr, 16),
           std::stoull(range.substr(range.find('-') + 1), nullptr, 16), std::stoull(off, nullptr, 16), perms, path};
    // The kernel may merge mappings on restore that fork history kept apart
    // (different anon_vma); compare the merged view.
    if (!lines.empty()) {
      Line& p = lines.back();
      bool file = !path.empty() && path[0] == '/';
      if (p.end == e.start && p.perms == e.perms && p.path == e.path && (!file || p.off + (p.end - p.start) == e.off)) {
        p.end = e.end;
        continue;
      }
    }
    lines.push_back(e);
  }
  std::ostringstream out;
  for (const Line& e : lines) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%llx-%llx ", e.start, e.end);
    out << buf << e.perms << ' ' << e.path << '\n';
  }
  return out.str();
}

void kill_child(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace flakelab::victims
