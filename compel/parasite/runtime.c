/* The parasite daemon: connects back to the injector, serves fixed-size commands,
 * and always leaves through rt_sigreturn into the frame the injector prepared, so
 * the victim resumes intact even if the injector has died. */
#include "flk_parasite.h"

#define AF_UNIX 1
#define SOCK_SEQPACKET 5
#define SOCK_CLOEXEC 02000000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_TRUNC 0x20
#define MSG_NOSIGNAL 0x4000
#define EINTR 4
#define ENOSYS 38
#define EINVAL 22
#define E2BIG 7

struct flk_iovec { void* base; size_t len; };
struct flk_msghdr {
  void* name; uint32_t namelen; uint32_t pad0;
  struct flk_iovec* iov; size_t iovlen;
  void* control; size_t controllen;
  int32_t flags; uint32_t pad1;
};
struct flk_cmsghdr { size_t len; int32_t level; int32_t type; };

/* The compiler may emit calls to these even in freestanding code. */
void* memcpy(void* dst, const void* src, size_t n) { return flk_memcpy(dst, src, n); }
void* memset(void* dst, int c, size_t n) { return flk_memset(dst, c, n); }

void* flk_memcpy(void* dst, const void* src, size_t n) {
  unsigned char* d = dst;
  const unsigned char* s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void* flk_memset(void* dst, int c, size_t n) {
  unsigned char* d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

void flk_log(struct flk_parasite_args* args, const char* text) {
  uint32_t len = args->log_len;
  while (*text && len + 1 < FLK_LOG_SIZE) args->log[len++] = *text++;
  args->log[len] = 0;
  args->log_len = len;
}

static void log_num(struct flk_parasite_args* args, long v) {
  char buf[24];
  int i = 23;
  int neg = v < 0;
  unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;
  buf[i] = 0;
  do { buf[--i] = (char)('0' + u % 10); u /= 10; } while (u && i > 1);
  if (neg) buf[--i] = '-';
  flk_log(args, buf + i);
}

__attribute__((weak)) int flk_parasite_user_cmd(struct flk_parasite_args* args, uint32_t cmd,
                                                uint32_t arg, void* payload, uint32_t* reply_arg) {
  (void)args; (void)cmd; (void)arg; (void)payload; (void)reply_arg;
  return -ENOSYS;
}

void flk_unmap_and_return(uint64_t syscall_ret, uint64_t return_frame, uint64_t base, uint64_t size)
    __attribute__((noreturn));

static __attribute__((noreturn)) void return_to_victim(struct flk_parasite_args* args) {
  if (args->sock_fd >= 0) flk_sys1(FLK_NR_close, args->sock_fd);
  args->sock_fd = -1;
  flk_unmap_and_return(args->syscall_ret, args->return_frame, args->self_base, args->self_size);
}

static void* payload_of(struct flk_parasite_args* args) {
  /* args sits at a page boundary of the mapping; payload_offset is relative to the
   * mapping start, and the blob (mapping start) is where our code runs from. */
  extern char __flk_parasite_head[];
  return __flk_parasite_head + args->payload_offset;
}

static long send_ctl(int fd, const struct flk_ctl_msg* m, const int* fds, uint32_t nfds) {
  struct flk_iovec iov = {(void*)m, sizeof(*m)};
  union {
    struct flk_cmsghdr h;
    char buf[sizeof(struct flk_cmsghdr) + FLK_MAX_FDS_PER_MSG * sizeof(int) + 8];
  } control;
  struct flk_msghdr mh;
  flk_memset(&mh, 0, sizeof(mh));
  mh.iov = &iov;
  mh.iovlen = 1;
  if (nfds) {
    control.h.len = sizeof(struct flk_cmsghdr) + nfds * sizeof(int);
    control.h.level = SOL_SOCKET;
    control.h.type = SCM_RIGHTS;
    flk_memcpy(control.buf + sizeof(struct flk_cmsghdr), fds, nfds * sizeof(int));
    mh.control = control.buf;
    mh.controllen = (control.h.len + 7) & ~(size_t)7;
  }
  return flk_sys3(FLK_NR_sendmsg, fd, &mh, MSG_NOSIGNAL);
}

/* Returns bytes received, or -errno; a datagram longer than a message sets *trunc. */
static long recv_ctl(int fd, struct flk_ctl_msg* m, int* trunc) {
  struct flk_iovec iov = {m, sizeof(*m)};
  struct flk_msghdr mh;
  long n;
  flk_memset(&mh, 0, sizeof(mh));
  mh.iov = &iov;
  mh.iovlen = 1;
  do {
    n = flk_sys3(FLK_NR_recvmsg, fd, &mh, 0);
  } while (n == -EINTR);
  *trunc = (mh.flags & MSG_TRUNC) != 0;
  return n;
}

static int cmd_send_fds(struct flk_parasite_args* args, int sock, uint32_t* count_out) {
  struct flk_fd_list* list = payload_of(args);
  uint32_t max = (uint32_t)((args->payload_size - sizeof(*list)) / sizeof(int32_t));
  uint32_t done = 0;
  if (list->count > max) return -E2BIG;
  while (done < list->count) {
    uint32_t n = list->count - done;
    if (n > FLK_MAX_FDS_PER_MSG) n = FLK_MAX_FDS_PER_MSG;
    struct flk_ctl_msg data = {FLK_CMD_SEND_FDS, FLK_DATA, 0, n};
    long r = send_ctl(sock, &data, list->fds + done, n);
    if (r < 0) return (int)r;
    done += n;
  }
  *count_out = done;
  return 0;
}

static int dispatch(struct flk_parasite_args* args, int sock, const struct flk_ctl_msg* req,
                    uint32_t* reply_arg) {
  void* payload = payload_of(args);
  switch (req->cmd) {
    case FLK_CMD_GET_SIGACTIONS: {
      struct flk_sigaction* acts = payload;
      if (args->payload_size < FLK_NSIG * sizeof(*acts)) return -E2BIG;
      for (int sig = 1; sig <= FLK_NSIG; ++sig) {
        long r = flk_sys4(FLK_NR_rt_sigaction, sig, 0, &acts[sig - 1], 8);
        if (r < 0) flk_memset(&acts[sig - 1], 0, sizeof(*acts));
      }
      *reply_arg = FLK_NSIG;
      return 0;
    }
    case FLK_CMD_GET_SIGALTSTACK:
      return (int)flk_sys2(FLK_NR_sigaltstack, 0, payload);
    case FLK_CMD_GET_ITIMERS: {
      struct flk_itimerval* t = payload;
      for (int which = 0; which < 3; ++which) {
        long r = flk_sys2(FLK_NR_getitimer, which, &t[which]);
        if (r < 0) return (int)r;
      }
      *reply_arg = 3;
      return 0;
    }
    case FLK_CMD_SEND_FDS:
      return cmd_send_fds(args, sock, reply_arg);
    default:
      if (req->cmd >= FLK_CMD_USER)
        return flk_parasite_user_cmd(args, req->cmd, req->arg, payload, reply_arg);
      return -EINVAL;
  }
}

static void record_trimmed(struct flk_parasite_args* args, long got) {
  args->trimmed_expected = sizeof(struct flk_ctl_msg);
  args->trimmed_got = got < 0 ? 0 : (uint32_t)got;
  if (got < 0) args->last_err = (int32_t)got;
  flk_log(args, "Trimmed message received (");
  log_num(args, sizeof(struct flk_ctl_msg));
  flk_log(args, "/");
  log_num(args, got < 0 ? 0 : got);
  flk_log(args, ")");
  args->status = FLK_STATUS_TRIMMED;
}

void flk_parasite_main(struct flk_parasite_args* args) __attribute__((noreturn, used));
void flk_parasite_main(struct flk_parasite_args* args) {
  args->sock_fd = -1;

  long fd = flk_sys3(FLK_NR_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    args->last_err = (int32_t)fd;
    args->status = FLK_STATUS_SOCKET_ERROR;
    flk_log(args, "socket() failed");
    return_to_victim(args);
  }
  args->sock_fd = (int32_t)fd;
  long r = flk_sys3(FLK_NR_connect, fd, args->addr, args->addr_len);
  if (r < 0) {
    args->last_err = (int32_t)r;
    args->status = FLK_STATUS_CONNECT_FAILED;
    flk_log(args, "connect() to the injector failed");
    return_to_victim(args);
  }
  args->status = FLK_STATUS_RUNNING;

  for (;;) {
    struct flk_ctl_msg req;
    int trunc = 0;
    long n = recv_ctl((int)fd, &req, &trunc);
    if (n != (long)sizeof(req) || trunc) {
      /* The injector went away (n == 0) or spoke a broken protocol. */
      record_trimmed(args, trunc ? (long)sizeof(req) + 1 : n);
      return_to_victim(args);
    }
    if (req.cmd == FLK_CMD_FINI) {
      struct flk_ctl_msg ack = {FLK_CMD_FINI, FLK_REPLY, 0, 0};
      args->status = FLK_STATUS_FINISHING;
      if (send_ctl((int)fd, &ack, 0, 0) < 0) return_to_victim(args);
      /* The injector now interrupts us and restores the victim itself. Should it die
       * first, this read ends with EOF and we restore the victim ourselves. */
      recv_ctl((int)fd, &req, &trunc);
      return_to_victim(args);
    }
    uint32_t reply_arg = 0;
    int err = dispatch(args, (int)fd, &req, &reply_arg);
    struct flk_ctl_msg rep = {req.cmd, FLK_REPLY, err, reply_arg};
    if (send_ctl((int)fd, &rep, 0, 0) < 0) {
      args->status = FLK_STATUS_SOCKET_ERROR;
      return_to_victim(args);
    }
  }
}
