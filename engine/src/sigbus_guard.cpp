#include "sigbus_guard.h"

#include <csetjmp>
#include <csignal>
#include <mutex>

#include "crc32c.h"

namespace flakelab::engine {
namespace {

// A SIGBUS while reading a mapped file means that it shrank under us (another
// process truncated it). While a SigbusGuard lives, such a SIGBUS on a thread
// inside guarded() makes guarded() return false instead of killing the
// program; any other SIGBUS goes to the disposition that was there before.
thread_local sigjmp_buf* t_sigbus_recovery = nullptr;

class SigbusGuard {
 public:
  SigbusGuard() {
    std::lock_guard lock(mutex());
    if (users()++ > 0) return;
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &previous());
  }
  ~SigbusGuard() {
    std::lock_guard lock(mutex());
    if (--users() == 0) ::sigaction(SIGBUS, &previous(), nullptr);
  }
  SigbusGuard(const SigbusGuard&) = delete;
  SigbusGuard& operator=(const SigbusGuard&) = delete;

  // Runs `read`; false if it took a SIGBUS.
  template <class F>
  static bool guarded(F&& read) {
    sigjmp_buf recovery;
    if (sigsetjmp(recovery, 1) != 0) {
      t_sigbus_recovery = nullptr;
      return false;
    }
    t_sigbus_recovery = &recovery;
    read();
    t_sigbus_recovery = nullptr;
    return true;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& users() {
    static int n = 0;
    return n;
  }
  static struct sigaction& previous() {
    static struct sigaction sa {};
    return sa;
  }
  static void on_sigbus(int, siginfo_t*, void*) {
    if (t_sigbus_recovery) siglongjmp(*t_sigbus_recovery, 1);
    // Not a read we guard: put the old disposition back and fault again into it.
    ::sigaction(SIGBUS, &previous(), nullptr);
  }
};

}  // namespace

bool mapped_crc32c(const uint8_t* data, size_t size, uint32_t* crc) {
  if (size == 0) {
    *crc = 0;
    return true;
  }
  // Not populated first (MADV_POPULATE_READ): that marks every page accessed,
  // moving each between LRU lists, which costs more than the faults it saves.
  SigbusGuard guard;
  return SigbusGuard::guarded([&] { *crc = crc32c(data, size); });
}

}  // namespace flakelab::engine
