#include "echo_victim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "flakelab/compel/proc.h"

namespace flakelab::compel::testing {

namespace {

uint64_t checksum(const std::vector<uint8_t>& data) {
  uint64_t h = 1469598103934665603ULL;
  for (uint8_t b : data) h = (h ^ b) * 1099511628211ULL;
  return h;
}

void echo_loop(int in, int out) {
  std::vector<uint8_t> memory(1 << 20);
  for (size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<uint8_t>(i * 131 + 7);
  const uint64_t expected = checksum(memory);
  RegSnapshot want{};
  for (int i = 0; i < 5; ++i) want.gp[i] = 0x1111111111111111ULL * static_cast<uint64_t>(i + 1) ^ 0xabcdef;
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 32; ++b) want.ymm[r][b] = static_cast<uint8_t>(r * 32 + b + 1);
  for (;;) {
    uint32_t n = 0;
    RegSnapshot got{};
    long r = syscall_keeping_registers(SYS_read, in, reinterpret_cast<long>(&n), sizeof(n), 0, &want, &got);
    if (r == -EINTR) continue;
    if (r != sizeof(n)) _exit(r == 0 ? 0 : 3);
    uint32_t reply[2] = {n, 0};
    if (std::memcmp(&want, &got, sizeof(want)) == 0) reply[1] |= kRegsIntact;
    if (checksum(memory) == expected) reply[1] |= kMemoryIntact;
    if (write(out, reply, sizeof(reply)) != sizeof(reply)) _exit(4);
  }
}

}  // namespace

EchoVictim EchoVictim::start(const std::function<void()>& before_loop) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  EchoVictim v;
  v.child = Child([&] {
    close(to[1]);
    close(from[0]);
    if (before_loop) before_loop();
    echo_loop(to[0], from[1]);
  });
  close(to[0]);
  close(from[1]);
  v.to_victim.reset(to[1]);
  v.from_victim.reset(from[0]);
  return v;
}

int EchoVictim::echo(uint32_t n, int timeout_ms) {
  if (write(to_victim.get(), &n, sizeof(n)) != sizeof(n)) return -1;
  pollfd pfd{from_victim.get(), POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) != 1) return -1;
  uint32_t reply[2];
  if (read(from_victim.get(), reply, sizeof(reply)) != sizeof(reply)) return -1;
  if (reply[0] != n) return -1;
  return static_cast<int>(reply[1]);
}

char process_state(pid_t pid) {
  auto st = proc::read_status(pid);
  return st ? st->state : '?';
}

bool wait_until_sleeping(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    char s = process_state(pid);
    if (s == 'S' || s == 'T' || s == 't') return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

}  // namespace flakelab::compel::testing
