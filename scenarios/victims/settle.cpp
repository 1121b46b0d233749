#include "settle.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace flakelab::victims {
namespace {

volatile sig_atomic_t g_wake = 0;
void on_usr1(int) { g_wake = 1; }

}  // namespace

void settle_and_wait(int ready_fd, const std::vector<int>& keep) {
  for (int fd = 0; fd < 256; ++fd) {
    bool wanted = fd == ready_fd;
    for (int k : keep) wanted |= fd == k;
    if (!wanted) close(fd);
  }
  syscall(SYS_close_range, 256, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
}

}  // namespace flakelab::victims
