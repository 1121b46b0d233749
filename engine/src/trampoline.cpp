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

#include "fault_point.h"
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
  // The new process (r12: its parent's pid; 0 for a thread) asks for SIGKILL if
  // its parent dies, then checks the parent did not die before that: a process
  // that lost its builder must never sit in pause() forever holding its pid.
  const uint8_t spawn[] = {
      0x0f, 0x05,                          //  64: syscall (clone3)
      0x48, 0x85, 0xc0,                    //  66: test %rax, %rax
      0x74, 0x01,                          //  69: jz 72 (new thread)
      0xcc,                                //  71: int3 (parent: back to the injector)
      0x4d, 0x85, 0xe4,                    //  72: test %r12, %r12
      0x74, 0x29,                          //  75: jz 118 (a thread)
      0xb8, 0x9d, 0x00, 0x00, 0x00,        //  77: mov $SYS_prctl, %eax
      0xbf, 0x01, 0x00, 0x00, 0x00,        //  82: mov $PR_SET_PDEATHSIG, %edi
      0xbe, 0x09, 0x00, 0x00, 0x00,        //  87: mov $SIGKILL, %esi
      0x0f, 0x05,                          //  92: syscall
      0xb8, 0x6e, 0x00, 0x00, 0x00,        //  94: mov $SYS_getppid, %eax
      0x0f, 0x05,                          //  99: syscall
      0x4c, 0x39, 0xe0,                    // 101: cmp %r12, %rax
      0x74, 0x0c,                          // 104: je 118
      0xb8, 0xe7, 0x00, 0x00, 0x00,        // 106: mov $SYS_exit_group, %eax
      0xbf, 0x79, 0x00, 0x00, 0x00,        // 111: mov $121, %edi
      0x0f, 0x05,                          // 116: syscall
      0xb8, 0x22, 0x00, 0x00, 0x00,        // 118: mov $SYS_pause, %eax
      0x0f, 0x05,                          // 123: syscall
      0xeb, 0xf7};                         // 125: jmp 118
  static_assert(kSpawnOffset + sizeof(spawn) <= kBatchOffset);
  static_assert(SYS_prctl == 0x9d && PR_SET_PDEATHSIG == 1 && SIGKILL == 9 && SYS_getppid == 0x6e &&
                SYS_exit_group == 0xe7 && SYS_pause == 0x22);
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
      0x0f, 0x05, 0xc3,                                   // 192: syscall; ret
      0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};  // 195: mov $15, %rax; syscall
  // The pieces must not overlap: each is copied over the int3 padding at its offset.
  static_assert(kBatchOffset + sizeof(batch) <= kGadgetOffset);
  static_assert(sizeof(batch) == kBatchTrapOffset - kBatchOffset + 1);
  static_assert(kBatchEntryWords * 8 == 0x38);
  std::vector<uint8_t> code(kGadgetOffset + sizeof(gadgets), 0xcc);  // int3 padding
  std::memcpy(code.data(), c.data(), c.size());
  std::memcpy(code.data() + kSpawnOffset, spawn, sizeof(spawn));
  std::memcpy(code.data() + kGadgetOffset, gadgets, sizeof(gadgets));
  std::memcpy(code.data() + kBatchOffset, batch, sizeof(batch));
  return code;
}

namespace {

// Runs in the clone3 child: a copy of the restorer, single-threaded. Only raw
// syscalls and plain stores here; never returns.
[[noreturn]] __attribute__((noinline)) void become_trampoline(const Trampoline& t, const uint8_t* code, size_t n,
                                                             pid_t restorer) {
  // This child is the target: the trampoline's address is a local one here.
  const uint64_t base = t.base.as_int();
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof(all));
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // A restorer killed before the prctl above sends no signal: we were reparented.
  if (syscall(SYS_getppid) != restorer) syscall(SYS_exit_group, 121);
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
  const pid_t restorer = getpid();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    long r = syscall(SYS_clone3, &args, sizeof(args));
    if (r == 0) become_trampoline(t, code.data(), code.size(), restorer);
    if (r > 0) {
      fault_point("root-cloned");
      return static_cast<pid_t>(r);
    }
    if (errno == EEXIST && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    if (errno == EEXIST)
      throw_errno("clone3 set_tid " + std::to_string(pid) + " (the pid is still in use after " +
                  std::to_string(wait_ms) + " ms)");
    if (errno == EPERM) {
      // Choosing a pid is privileged: say what is missing rather than a bare EPERM.
      throw_errno("clone3 set_tid " + std::to_string(pid) +
                  " (restoring a process with its pid needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN: run as root)");
    }
    throw_errno("clone3 set_tid " + std::to_string(pid));
  }
}

}  // namespace flakelab::engine
