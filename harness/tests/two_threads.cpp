// A two-thread program for `flakelab run cmd --spread` tests: both threads live long
// enough for the harness to find and pin them, then each reports the CPU it runs on.
// Exits 0 when the two ran on different CPUs, 1 when on the same one.
#include <sched.h>
#include <cstdio>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

// Spins until `until`, then returns the CPU the thread is on.
int spin_then_cpu(std::chrono::steady_clock::time_point until) {
  while (std::chrono::steady_clock::now() < until) {
  }
  return sched_getcpu();
}

}  // namespace

int main() {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
  int second = -1;
  std::thread thread([&] { second = spin_then_cpu(until); });
  const int first = spin_then_cpu(until);
  thread.join();
  std::printf("main thread on CPU %d, second thread on CPU %d\n", first, second);
  return first != second ? 0 : 1;
}
