/*
 * The contract between the injector (C++) and the parasite (freestanding C).
 * This header is compiled by both sides, so it is plain C with fixed-width types.
 *
 * The parasite lives in one memfd mapped into the victim and into the injector:
 *
 *   [ blob (code+data) | args page (args, undo code) | payload | stack ... top | guard zone ]
 *
 * The parasite always leaves the same way, injector or not: it closes its socket,
 * unmaps this whole mapping by jumping to the victim's own `syscall; ret` with rsp
 * on the return frame compel wrote below the thread's stack pointer, whose `ret`
 * leads to rt_sigreturn into the thread's original context (remote_session.h).
 *
 * The stack grows down from `top`; the guard zone right above it is filled with a
 * pattern before the parasite starts and checked afterwards. It is part of the same
 * mapping, so nothing else can legitimately write there (the CRIU flake checked the
 * memory after the mapping instead, which can belong to anybody).
 */
#ifndef FLAKELAB_COMPEL_PARASITE_ABI_H
#define FLAKELAB_COMPEL_PARASITE_ABI_H

#include <stdint.h>

#define FLK_PARASITE_MAGIC 0x464c4b5041524153ULL /* "SARAPKLF" */
#define FLK_PARASITE_ABI_VERSION 2u

/* One control message, fixed size in both directions. */
struct flk_ctl_msg {
  uint32_t cmd;
  uint32_t ack; /* 0 = request, 1 = reply, 2 = data (fds follow as SCM_RIGHTS) */
  int32_t err;  /* 0 or -errno */
  uint32_t arg; /* command-specific small argument (e.g. number of fds in a data message) */
};

enum flk_cmd {
  FLK_CMD_FINI = 1,           /* reply, then wait to be taken over by the injector */
  FLK_CMD_GET_SIGACTIONS = 2, /* payload <- struct flk_sigaction[FLK_NSIG] */
  FLK_CMD_GET_SIGALTSTACK = 3,/* payload <- struct flk_stack */
  FLK_CMD_GET_ITIMERS = 4,    /* payload <- struct flk_itimerval[3] */
  FLK_CMD_SEND_FDS = 5,       /* payload -> struct flk_fd_list; fds go back as SCM_RIGHTS */
  FLK_CMD_USER = 64           /* first user-defined command */
};

enum flk_ack { FLK_REQUEST = 0, FLK_REPLY = 1, FLK_DATA = 2 };

/* Daemon status, written by the parasite into args->status. */
enum flk_status {
  FLK_STATUS_STARTING = 0,
  FLK_STATUS_RUNNING = 1,   /* connected, serving commands */
  FLK_STATUS_FINISHING = 2, /* FINI acknowledged, waiting to be taken over */
  FLK_STATUS_TRIMMED = 3,   /* short read on the control socket; victim context restored */
  FLK_STATUS_SOCKET_ERROR = 4,
  FLK_STATUS_CONNECT_FAILED = 5
};

#define FLK_NSIG 64
#define FLK_MAX_FDS_PER_MSG 64
#define FLK_LOG_SIZE 512

struct flk_sigaction { /* the kernel's struct sigaction (x86-64) */
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

struct flk_stack { /* the kernel's stack_t */
  uint64_t ss_sp;
  int32_t ss_flags;
  int32_t pad;
  uint64_t ss_size;
};

struct flk_timeval { int64_t tv_sec; int64_t tv_usec; };
struct flk_itimerval { struct flk_timeval interval; struct flk_timeval value; };

struct flk_fd_list {
  uint32_t count;
  int32_t fds[]; /* count entries */
};

/* The kernel's x86-64 sigcontext/ucontext, as rt_sigreturn reads them. */
struct flk_sigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate; /* address of an XSAVE area, 64-byte aligned */
  uint64_t reserved1[8];
};

struct flk_ucontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  struct flk_stack uc_stack;
  struct flk_sigcontext uc_mcontext;
  uint64_t uc_sigmask;
};

/* rt_sigreturn finds the frame at (rsp - 8): pretcode, then the ucontext. */
struct flk_rt_sigframe {
  uint64_t pretcode;
  struct flk_ucontext uc;
  uint8_t siginfo[128];
};

/* Lives at the start of the args page. Offsets are from the mapping start. */
struct flk_parasite_args {
  uint64_t magic;
  uint32_t abi_version;
  int32_t sock_fd; /* the parasite's control socket, in the victim's fd table */

  uint32_t addr_len; /* sockaddr_un to connect() to (abstract name) */
  uint8_t addr[112];

  uint64_t return_frame; /* victim address of the return frame's pretcode (rsp for the last `ret`) */
  uint64_t syscall_ret;  /* a `syscall; ret` in the victim's own code */
  uint64_t self_base;    /* this mapping, unmapped on the way out */
  uint64_t self_size;
  uint64_t payload_offset;
  uint64_t payload_size;

  volatile int32_t status;   /* enum flk_status */
  volatile int32_t last_err; /* -errno of the failing syscall, if any */
  volatile uint32_t trimmed_expected;
  volatile uint32_t trimmed_got;
  volatile uint32_t log_len;
  char log[FLK_LOG_SIZE]; /* short text the parasite leaves for the injector */
};

#define FLK_REG_ALIGN 64

#endif
