/* Raw x86-64 system calls for the freestanding parasite (no libc, no errno). */
#ifndef FLAKELAB_PARASITE_SYSCALL_H
#define FLAKELAB_PARASITE_SYSCALL_H

#include <stdint.h>

static inline long flk_sys6(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

#define flk_sys0(nr) flk_sys6((nr), 0, 0, 0, 0, 0, 0)
#define flk_sys1(nr, a) flk_sys6((nr), (long)(a), 0, 0, 0, 0, 0)
#define flk_sys2(nr, a, b) flk_sys6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define flk_sys3(nr, a, b, c) flk_sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define flk_sys4(nr, a, b, c, d) flk_sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* x86-64 syscall numbers used by the parasite. */
#define FLK_NR_read 0
#define FLK_NR_write 1
#define FLK_NR_close 3
#define FLK_NR_rt_sigaction 13
#define FLK_NR_rt_sigreturn 15
#define FLK_NR_getitimer 36
#define FLK_NR_getpid 39
#define FLK_NR_socket 41
#define FLK_NR_connect 42
#define FLK_NR_sendmsg 46
#define FLK_NR_recvmsg 47
#define FLK_NR_sigaltstack 131

#endif
