#include "trampoline.h"

#include <linux/sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "flakelab/engine/error.h"

namespace flakelab::engine {

std::vector<uint8_t> trampoline_code(int ready_fd) {
  std::vector<uint8_t> c = {
      0xb8, 0x01, 0x00, 0x00, 0x00,        //  0: mov $SYS_write, %eax
      0xbf, 0x00, 0x00, 0x00, 0x00,        //  5: mov $ready_fd, %edi
      0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00,  // 10: lea 16(%rip), %rsi  -> byte 33
      0xba, 0x01, 0x00, 0x00, 0x00,        // 17: mov $1, %edx
      0x0f, 0x05,                          // 22: syscall
      0xb8, 0x22, 0x00, 0x00, 0x00,        // 24: mov $SYS_pause, %eax
      0x0f, 0x05,                          // 29: syscall
      0xeb, 0xf7,                          // 31: jmp 24
      'R'};                                // 33
  std::memcpy(&c[6], &ready_fd, 4);
  const uint8_t spawn[] = {
      0x0f, 0x05,                          // 64: syscall (clone3)
      0x48, 0x85, 0xc0,                    // 66: test %rax, %rax
      0x74, 0x01,                          // 69: jz 72 (new thread)
      0xcc,                                // 71: int3 (parent: back to the injector)
      0xb8, 0x22, 0x00, 0x00, 0x00,        // 72: mov $SYS_pause, %eax
      0x0f, 0x05,                          // 77: syscall
      0xeb, 0xf7};                         // 79: jmp 72
  std::vector<uint8_t> code(kSpawnOffset + sizeof(spawn), 0xcc);  // int3 padding
  std::memcpy(code.data(), c.data(), c.size());
  std::memcpy(code.data() + kSpawnOffset, spawn, sizeof(spawn));
  return code;
}

namespace {

// Runs in the clone3 child: a copy of the restorer, single-threaded. Only raw
// syscalls and plain stores here; never returns.
[[noreturn]] __attribute__((noinline)) void become_trampoline(const Trampoline& t, const uint8_t* code, size_t n) {
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof(all));
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  long p = syscall(SYS_mmap, t.base, Trampoline::kSize, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != static_cast<long>(t.base)) syscall(SYS_exit_group, 120);
  volatile uint8_t* dst = reinterpret_cast<volatile uint8_t*>(t.base);
  for (size_t i = 0; i < n; ++i) dst[i] = code[i];
  uint64_t stack_top = t.base + Trampoline::kSize - 64;
  __asm__ volatile("mov %0, %%rsp\n\tjmp *%1" : : "r"(stack_top), "r"(t.base) : "memory");
  __builtin_unreachable();
}

}  // namespace

pid_t clone_into_trampoline(pid_t pid, const Trampoline& t, const std::vector<uint8_t>& code, int wait_ms) {
  pid_t tid = pid;
  clone_args args{};
  args.exit_signal = SIGCHLD;
  args.set_tid = reinterpret_cast<uint64_t>(&tid);
  args.set_tid_size = 1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    long r = syscall(SYS_clone3, &args, sizeof(args));
    if (r == 0) become_trampoline(t, code.data(), code.size());
    if (r > 0) return static_cast<pid_t>(r);
    if (errno == EEXIST && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    if (errno == EEXIST)
      throw_errno("clone3 set_tid " + std::to_string(pid) + " (the pid is still in use after " +
                  std::to_string(wait_ms) + " ms)");
    throw_errno("clone3 set_tid " + std::to_string(pid));
  }
}

}  // namespace flakelab::engine
