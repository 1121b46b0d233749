// Victims whose credentials and seccomp state must come back exactly.
//
// The credentials victim (started as root) sets its loginuid to 4715 where the
// kernel lets it, then has three threads. All drop to uid/gid
// kCredsUid/kCredsGid with the supplementary groups kCredsGroups; only the main
// thread keeps capabilities (PR_SET_KEEPCAPS): permitted and effective
// {net_bind_service, kill}, inheritable and ambient {net_bind_service}, a bounding set
// without cap_sys_admin, cap_net_raw and cap_sys_module, securebits kCredsSecurebits.
// The main thread sets no_new_privs and installs a filter with
// SECCOMP_FILTER_FLAG_TSYNC (so every thread shares it, and gets no_new_privs) that
// fails getpriority() with kSharedFilterErrno; thread 1 then adds a filter of its own
// failing getpgid() with kThreadFilterErrno. The threads wait in futex(), the main
// thread in sigsuspend(). On SIGUSR1 each thread checks its own ids, groups,
// capabilities, no_new_privs and filters (by calling the filtered syscalls), and the
// main thread exits with kVictimOk or kCredsBad* bits.
//
// The strict victim enters SECCOMP_MODE_STRICT and waits in read() on a pipe of its
// own. On SIGUSR1 its handler writes a byte into that pipe (and returns through
// rt_sigreturn, which strict mode allows); the woken victim checks that the pipe still works, then calls getppid(): strict mode
// still in force kills it with SIGKILL, which is what a test expects; a broken pipe
// exits 1, and a getppid() that returns exits 2.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace flakelab::victims {

constexpr uint32_t kCredsUid = 4711;
constexpr uint32_t kCredsGid = 4712;
constexpr uint32_t kCredsGroups[] = {4713, 4714};
constexpr uint32_t kCredsSecurebits = 0x7;   // SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP
constexpr int kSharedFilterErrno = 77;        // EBADFD: getpriority() in every thread
constexpr int kThreadFilterErrno = 78;        // EREMCHG: getpgid() in thread 1 only

constexpr int kCredsBadIds = 1;
constexpr int kCredsBadCaps = 2;
constexpr int kCredsBadSecurebits = 4;
constexpr int kCredsBadNoNewPrivs = 8;
constexpr int kCredsBadSharedFilter = 16;
constexpr int kCredsBadThreadFilter = 32;
constexpr int kCredsBadThreadCaps = 64;

pid_t start_creds_victim();
pid_t start_strict_victim();

}  // namespace flakelab::victims
