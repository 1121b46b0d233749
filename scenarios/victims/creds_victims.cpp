#include "flakelab/victims/creds_victims.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#include "flakelab/victims/victims.h"

namespace flakelab::victims {
namespace {

constexpr uint64_t kMainCaps = (uint64_t{1} << CAP_NET_BIND_SERVICE) | (uint64_t{1} << CAP_KILL);
constexpr uint64_t kMainInheritable = uint64_t{1} << CAP_NET_BIND_SERVICE;
constexpr int kDroppedFromBounding[] = {CAP_SYS_ADMIN, CAP_NET_RAW, CAP_SYS_MODULE};

struct State {
  std::atomic<uint32_t> stage{0};  // 1: thread 1 may add its filter
  std::atomic<uint32_t> go{0};     // 1: check everything
  std::atomic<int> threads_up{0};
  std::atomic<int> thread1_filtered{0};
  std::atomic<int> usr1{0};
  int result[2] = {-1, -1};  // each thread's kCredsBad* bits
};
State* g;

void wait_for(std::atomic<uint32_t>& word) {
  while (word.load() == 0) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
}

void wake(std::atomic<uint32_t>& word) {
  word = 1;
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 64, nullptr, nullptr, 0);
}

// Fails syscall `nr` with `err`, allows everything else.
long install_errno_filter(long nr, int err, unsigned flags) {
  sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<uint32_t>(err)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog fprog{static_cast<unsigned short>(sizeof(prog) / sizeof(prog[0])), prog};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

bool fails_with(long r, int err) { return r == -1 && errno == err; }

// What the calling thread checks of itself; `index` 0 is the main thread.
int check_thread(int index) {
  int bad = 0;
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || ru != kCredsUid || eu != kCredsUid || su != kCredsUid) bad |= kCredsBadIds;
  if (getresgid(&rg, &eg, &sg) != 0 || rg != kCredsGid || eg != kCredsGid || sg != kCredsGid) bad |= kCredsBadIds;
  // setfs[ug]id(-1) changes nothing and returns the current value.
  if (syscall(SYS_setfsuid, -1) != kCredsUid || syscall(SYS_setfsgid, -1) != kCredsGid) bad |= kCredsBadIds;
  gid_t groups[8];
  int n = getgroups(8, groups);
  if (n != 2 || groups[0] != kCredsGroups[0] || groups[1] != kCredsGroups[1]) bad |= kCredsBadIds;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) bad |= kCredsBadCaps;
  uint64_t eff = data[0].effective | uint64_t{data[1].effective} << 32;
  uint64_t prm = data[0].permitted | uint64_t{data[1].permitted} << 32;
  uint64_t inh = data[0].inheritable | uint64_t{data[1].inheritable} << 32;
  int securebits = prctl(PR_GET_SECUREBITS);
  if (index == 0) {
    if (eff != kMainCaps || prm != kMainCaps || inh != kMainInheritable) bad |= kCredsBadCaps;
    for (int cap : kDroppedFromBounding)
      if (prctl(PR_CAPBSET_READ, cap) != 0) bad |= kCredsBadCaps;
    if (prctl(PR_CAPBSET_READ, CAP_NET_BIND_SERVICE) != 1) bad |= kCredsBadCaps;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) != 1) bad |= kCredsBadCaps;
    if (securebits != static_cast<int>(kCredsSecurebits)) bad |= kCredsBadSecurebits;
  } else {
    if (eff != 0 || prm != 0 || inh != 0 || prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) != 1) bad |= kCredsBadThreadCaps;
    if (securebits != 0) bad |= kCredsBadSecurebits;
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) bad |= kCredsBadNoNewPrivs;
  if (prctl(PR_GET_SECCOMP) != SECCOMP_MODE_FILTER || !fails_with(syscall(SYS_getpriority, PRIO_PROCESS, 0), kSharedFilterErrno))
    bad |= kCredsBadSharedFilter;
  long pgid = syscall(SYS_getpgid, 0);
  if (index == 1 ? !fails_with(pgid, kThreadFilterErrno) : pgid < 0) bad |= kCredsBadThreadFilter;
  return bad;
}

void* creds_thread(void* arg) {
  int index = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  g->threads_up++;
  if (index == 1) {
    wait_for(g->stage);
    // Its own filter on top of the shared one (no_new_privs came with TSYNC).
    g->thread1_filtered = install_errno_filter(SYS_getpgid, kThreadFilterErrno, 0) == 0 ? 1 : -1;
  }
  wait_for(g->go);
  g->result[index - 1] = check_thread(index);
  return nullptr;
}

bool set_caps(uint64_t prm, uint64_t eff, uint64_t inh) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {
      {static_cast<uint32_t>(eff), static_cast<uint32_t>(prm), static_cast<uint32_t>(inh)},
      {static_cast<uint32_t>(eff >> 32), static_cast<uint32_t>(prm >> 32), static_cast<uint32_t>(inh >> 32)}};
  return syscall(SYS_capset, &header, data) == 0;
}

[[noreturn]] void creds_victim(int ready) {
  if (ready > 0) syscall(SYS_close_range, 0, ready - 1, 0);
  syscall(SYS_close_range, ready + 1, ~0u, 0);
  static State state;
  g = &state;
  struct sigaction sa{};
  sa.sa_handler = [](int) { g->usr1++; };
  sigaction(SIGUSR1, &sa, nullptr);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  // Inherited by the threads; may be refused (audit loginuid_immutable): then it stays unset.
  if (int fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!write(fd, "4715", 4);
    close(fd);
  }
  pthread_t t[2];
  for (intptr_t i = 0; i < 2; ++i)
    if (pthread_create(&t[i], nullptr, creds_thread, reinterpret_cast<void*>(i + 1)) != 0) _exit(100);
  while (g->threads_up.load() < 2) usleep(100);
  // glibc applies these to every thread; keep-caps is the main thread's alone.
  if (setgroups(2, kCredsGroups) != 0) _exit(101);
  if (prctl(PR_SET_KEEPCAPS, 1) != 0) _exit(102);
  if (setresgid(kCredsGid, kCredsGid, kCredsGid) != 0 || setresuid(kCredsUid, kCredsUid, kCredsUid) != 0) _exit(103);
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a credential change cleared it
  uint64_t setpcap = uint64_t{1} << CAP_SETPCAP;
  if (!set_caps(kMainCaps | setpcap, kMainCaps | setpcap, kMainInheritable)) _exit(104);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) != 0) _exit(105);
  for (int cap : kDroppedFromBounding)
    if (prctl(PR_CAPBSET_DROP, cap) != 0) _exit(106);
  if (prctl(PR_SET_SECUREBITS, kCredsSecurebits) != 0) _exit(107);
  if (!set_caps(kMainCaps, kMainCaps, kMainInheritable)) _exit(108);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(109);
  if (install_errno_filter(SYS_getpriority, kSharedFilterErrno, SECCOMP_FILTER_FLAG_TSYNC) != 0) _exit(110);
  wake(g->stage);
  while (g->thread1_filtered.load() == 0) usleep(100);
  if (g->thread1_filtered.load() != 1) _exit(111);
  if (write(ready, "r", 1) != 1) _exit(112);
  close(ready);
  sigset_t only_usr1;
  sigfillset(&only_usr1);
  sigdelset(&only_usr1, SIGUSR1);
  while (g->usr1.load() == 0) sigsuspend(&only_usr1);
  wake(g->go);
  for (auto& th : t) pthread_join(th, nullptr);
  _exit(check_thread(0) | g->result[0] | g->result[1]);
}

int strict_pipe_w = -1;

[[noreturn]] void strict_victim(int ready) {
  if (ready > 0) syscall(SYS_close_range, 0, ready - 1, 0);
  syscall(SYS_close_range, ready + 1, ~0u, 0);
  int p[2];
  if (pipe(p) != 0) _exit(100);
  strict_pipe_w = p[1];
  struct sigaction sa{};
  // Wakes the read() below however the signal falls (even just before the call).
  sa.sa_handler = [](int) { (void)!write(strict_pipe_w, "u", 1); };
  sigaction(SIGUSR1, &sa, nullptr);
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) _exit(101);
  // From here on only read, write, exit and rt_sigreturn.
  if (write(ready, "r", 1) != 1) syscall(SYS_exit, 102);
  char c = 0;
  while (!(read(p[0], &c, 1) == 1 && c == 'u')) {
  }
  if (write(p[1], "s", 1) != 1 || read(p[0], &c, 1) != 1 || c != 's') syscall(SYS_exit, 1);
  syscall(SYS_getppid);  // strict mode kills us here
  syscall(SYS_exit, 2);
  __builtin_unreachable();
}

}  // namespace

pid_t start_creds_victim() {
  return start_victim("credentials victim", [](int ready) { creds_victim(ready); }, true);
}

pid_t start_strict_victim() {
  return start_victim("seccomp strict victim", [](int ready) { strict_victim(ready); });
}

}  // namespace flakelab::victims
