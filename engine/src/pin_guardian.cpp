#include "pin_guardian.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "flakelab/engine/error.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// The guardian runs on a stack inside Shared and shares the engine's memory, so
// ASan's shadow too: its instrumented frames would poison that stack and nothing
// unpoisons it after the raw exit, and a later Shared mapped at the same address
// would look like a stack underflow. The guardian is not instrumented, and a new
// table starts unpoisoned.
#define FLAKELAB_NO_ASAN __attribute__((no_sanitize_address))
#define FLAKELAB_UNPOISON(addr, size) ASAN_UNPOISON_MEMORY_REGION(addr, size)
#else
#define FLAKELAB_NO_ASAN
#define FLAKELAB_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

namespace flakelab::engine {

struct PinGuardian::Shared {
  std::atomic<uint32_t> count{0};
  int read_fd = -1;
  int write_fd = -1;
  struct Entry {
    pid_t tid;
    cpu_set_t mask;
  } entries[kMaxThreads];
  alignas(64) uint8_t stack[16 * 1024];
};

namespace {

// The guardian shares the engine's memory and TLS: raw syscalls only, so that
// nothing of the engine's (errno, locks) is touched from it.
FLAKELAB_NO_ASAN inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0) {
  long ret;
  register long r10 __asm__("r10") = 0;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}

FLAKELAB_NO_ASAN int guardian_main(void* arg) {
  auto* s = static_cast<PinGuardian::Shared*>(arg);
  raw_syscall(SYS_close, s->write_fd);  // our copy: the engine's must be the last one
  char byte;
  long n;
  do {
    n = raw_syscall(SYS_read, s->read_fd, reinterpret_cast<long>(&byte), 1);
  } while (n == -EINTR);
  if (n == 0) {  // the engine died
    uint32_t count = s->count.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < count && i < PinGuardian::kMaxThreads; ++i)
      raw_syscall(SYS_sched_setaffinity, s->entries[i].tid, sizeof(cpu_set_t),
                  reinterpret_cast<long>(&s->entries[i].mask));
  }
  raw_syscall(SYS_exit, 0);
  return 0;
}

}  // namespace

PinGuardian::PinGuardian() {
  void* mem = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw_errno("mmap of the pin guardian's table (" + std::to_string(sizeof(Shared)) + " bytes)");
  FLAKELAB_UNPOISON(mem, sizeof(Shared));
  shared_ = new (mem) Shared();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    int err = errno;
    ::munmap(shared_, sizeof(Shared));
    throw_errno("pipe2 for the pin guardian", err);
  }
  shared_->read_fd = fds[0];
  shared_->write_fd = fds[1];
  pid_ = ::clone(guardian_main, shared_->stack + sizeof(shared_->stack), CLONE_VM | SIGCHLD, shared_);
  int err = errno;
  ::close(fds[0]);
  if (pid_ < 0) {
    ::close(fds[1]);
    ::munmap(shared_, sizeof(Shared));
    throw_errno("clone of the pin guardian", err);
  }
  write_fd_ = fds[1];
}

bool PinGuardian::record(pid_t tid, const cpu_set_t& mask) {
  uint32_t n = shared_->count.load(std::memory_order_relaxed);
  if (n >= kMaxThreads) return false;
  shared_->entries[n].tid = tid;
  shared_->entries[n].mask = mask;
  shared_->count.store(n + 1, std::memory_order_release);
  return true;
}

void PinGuardian::dismiss() noexcept {
  if (pid_ < 0) return;
  const char done = 'd';
  ssize_t w;
  do {
    w = ::write(write_fd_, &done, 1);
  } while (w < 0 && errno == EINTR);
  ::close(write_fd_);
  write_fd_ = -1;
  // It may already have been reaped by someone waiting for any child: ECHILD then.
  while (::waitpid(pid_, nullptr, __WALL) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  ::munmap(shared_, sizeof(Shared));
  shared_ = nullptr;
}

}  // namespace flakelab::engine
