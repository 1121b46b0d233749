// The victim of ci/reliability/kill_dump.sh: two threads that notice damage to
// themselves. The main thread waits for SIGUSR1 (sigwaitinfo, SIGUSR2 also kept
// blocked) and answers each by writing "<n> ok" or "<n> bad <why>" to the file
// named by argv[1]: its text mappings must have the checksum they had at start and
// the worker must have made progress with correct floating point sums. The worker
// sleeps in short nanosleeps between sums (threads are caught in and out of
// syscalls). Everything else (maps, fds, masks, affinity, tracer) the script checks
// from /proc.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::atomic<uint64_t> g_rounds{0};
std::atomic<bool> g_fp_bad{false};

uint64_t text_checksum() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uint64_t sum = 1469598103934665603ULL;  // FNV-1a over every executable file mapping
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, off, dev, inode, path;
    in >> range >> perms >> off >> dev >> inode >> path;
    if (perms.size() < 3 || perms[2] != 'x' || path.empty() || path[0] != '/') continue;
    uint64_t lo = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    uint64_t hi = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    for (const auto* p = reinterpret_cast<const volatile uint8_t*>(lo); p < reinterpret_cast<const volatile uint8_t*>(hi); ++p)
      sum = (sum ^ *p) * 1099511628211ULL;
  }
  return sum;
}

void* worker(void*) {
  for (;;) {
    double acc = 0;
    for (int i = 1; i <= 1000; ++i) acc += i * 0.5;
    if (acc != 250250.0) g_fp_bad = true;
    g_rounds.fetch_add(1, std::memory_order_relaxed);
    timespec ts{0, 200 * 1000};
    nanosleep(&ts, nullptr);
  }
  return nullptr;
}

void answer(const char* path, uint64_t n, const std::string& verdict) {
  std::string tmp = std::string(path) + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) _exit(3);
  std::string text = std::to_string(n) + " " + verdict + "\n";
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(3);
  close(fd);
  if (rename(tmp.c_str(), path) != 0) _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ANSWER_FILE\n", argv[0]);
    return 2;
  }
  sigset_t wait_for, blocked;
  sigemptyset(&wait_for);
  sigaddset(&wait_for, SIGUSR1);
  blocked = wait_for;
  sigaddset(&blocked, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  const uint64_t text = text_checksum();
  pthread_t t;
  if (pthread_create(&t, nullptr, worker, nullptr) != 0) return 3;
  // Ready once the worker runs (a new thread starts with every signal blocked).
  while (g_rounds.load() == 0) usleep(100);
  uint64_t n = 0, last_rounds = 0;
  answer(argv[1], n, "ok");
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&wait_for, &si) != SIGUSR1) continue;
    ++n;
    // The worker sleeps 200 us per round: give it time to show progress.
    uint64_t rounds = g_rounds.load();
    for (int i = 0; i < 200 && rounds == last_rounds; ++i) {
      usleep(1000);
      rounds = g_rounds.load();
    }
    std::string verdict = "ok";
    if (text_checksum() != text) verdict = "bad text-changed";
    else if (g_fp_bad) verdict = "bad fp-sums";
    else if (rounds == last_rounds) verdict = "bad worker-stuck";
    last_rounds = rounds;
    answer(argv[1], n, verdict);
  }
}
