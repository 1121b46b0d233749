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
  const uint8_t batch[] = {
      0x4d, 0x85, 0xed,                    // 0x00: test %r13, %r13
      0x74, 0x35,                          // 0x03: jz 0x3a
      0x49, 0x8b, 0x04, 0x24,              // 0x05: mov (%r12), %rax
      0x49, 0x8b, 0x7c, 0x24, 0x08,        // 0x09: mov 8(%r12), %rdi
      0x49, 0x8b, 0x74, 0x24, 0x10,        // 0x0e: mov 16(%r12), %rsi
      0x49, 0x8b, 0x54, 0x24, 0x18,        // 0x13: mov 24(%r12), %rdx
      0x4d, 0x8b, 0x54, 0x24, 0x20,        // 0x18: mov 32(%r12), %r10
      0x4d, 0x8b, 0x44, 0x24, 0x28,        // 0x1d: mov 40(%r12), %r8
      0x4d, 0x8b, 0x4c, 0x24, 0x30,        // 0x22: mov 48(%r12), %r9
      0x0f, 0x05,                          // 0x27: syscall
      0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff,  // 0x29: cmp $-4095, %rax
      0x73, 0x09,                          // 0x2f: jae 0x3a (failed)
      0x49, 0x83, 0xc4, 0x38,              // 0x31: add $56, %r12
      0x49, 0xff, 0xcd,                    // 0x35: dec %r13
      0xeb, 0xc6,                          // 0x38: jmp 0x00
      0xcc};                               // 0x3a: int3 (back to the injector)
  // compel's remote syscalls return through these (return_gadgets.h): the
  // restorer's libc, which it would use otherwise, is unmapped early in a restore.
  const uint8_t gadgets[] = {
      0x0f, 0x05, 0xc3,                                   // 96: syscall; ret
      0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};  // 99: mov $15, %rax; syscall
  static_assert(kGadgetOffset + sizeof(gadgets) <= kBatchOffset);
  static_assert(sizeof(batch) == kBatchTrapOffset - kBatchOffset + 1);
  static_assert(kBatchEntryWords * 8 == 0x38);
  std::vector<uint8_t> code(kBatchOffset + sizeof(batch), 0xcc);  // int3 padding
  std::memcpy(code.data(), c.data(), c.size());
  std::memcpy(code.data() + kSpawnOffset, spawn, sizeof(spawn));
  std::memcpy(code.data() + kGadgetOffset, gadgets, sizeof(gadgets));
  std::memcpy(code.data() + kBatchOffset, batch, sizeof(batch));
  return code;
}

namespace {

// Runs in the clone3 child: a copy of the restorer, single-threaded. Only raw
// syscalls and plain stores here; never returns.
[[noreturn]] __attribute__((noinline)) void become_trampoline(const Trampoline& t, const uint8_t* code, size_t n) {
  // This child is the target: the trampoline's address is a local one here.
  const uint64_t base = t.base.as_int();
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof(all));
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  long p = syscall(SYS_mmap, base, Trampoline::kSize, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (static_cast<uint64_t>(p) != base) syscall(SYS_exit_group, 120);
  volatile uint8_t* dst = reinterpret_cast<volatile uint8_t*>(base);
  for (size_t i = 0; i < n; ++i) dst[i] = code[i];
  uint64_t stack_top = base + Trampoline::kSize - 64;
  __asm__ volatile("mov %0, %%rsp\n\tjmp *%1" : : "r"(stack_top), "r"(base) : "memory");
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
