// A program that follows CRIU's zdtm test protocol (test/zdtm/lib/test.c), so the zdtm
// scenario can be tested without CRIU. `NAME --pidfile=F --outfile=F`: the launcher
// forks the test's daemon, which sets up its state and says it is ready; the launcher
// writes the daemon's pid into the pidfile and exits 0. The daemon waits for SIGTERM,
// checks its state and writes "PASS" or "FAIL: why" as the out file's last line.
// ZDTM_PROGRAM_CHECK (a compile definition) selects the check:
//   "state"        a memory pattern and a pipe's buffered bytes are intact: passes with
//                  or without a correct checkpoint/restore;
//   "not_restored" its own start time is unchanged: fails after any restore (a restored
//                  process is a new process), passes without one.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

void on_term(int) { g_stop = 1; }

// Field 22 of /proc/self/stat: when the kernel created this process.
unsigned long long start_time() {
  FILE* f = fopen("/proc/self/stat", "r");
  if (!f) return 0;
  char text[4096] = {};
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  const char* p = strrchr(text, ')');  // comm may hold spaces
  if (!p) return 0;
  unsigned long long value = 0;
  int field = 2;
  for (const char* tok = strtok(const_cast<char*>(p + 1), " "); tok; tok = strtok(nullptr, " "))
    if (++field == 22) value = strtoull(tok, nullptr, 10);
  return value;
}

std::string option(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(name + "=", 0) == 0) return arg.substr(name.size() + 1);
    if (arg == name && i + 1 < argc) return argv[i + 1];
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string pidfile = option(argc, argv, "--pidfile");
  const std::string outfile = option(argc, argv, "--outfile");
  if (pidfile.empty() || outfile.empty()) {
    fprintf(stderr, "usage: %s --pidfile=FILE --outfile=FILE\n", argv[0]);
    return 2;
  }
  int out = open(outfile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out < 0) {
    fprintf(stderr, "open %s: %s\n", outfile.c_str(), strerror(errno));
    return 1;
  }
  int ready[2];
  if (pipe(ready) != 0) {
    perror("pipe");
    return 1;
  }
  pid_t daemon = fork();
  if (daemon < 0) {
    perror("fork");
    return 1;
  }
  if (daemon > 0) {  // the launcher
    close(ready[1]);
    char byte;
    if (read(ready[0], &byte, 1) != 1) {
      fprintf(stderr, "the test's daemon %d died before it was ready\n", daemon);
      return 1;
    }
    const std::string tmp = pidfile + ".tmp";
    FILE* f = fopen(tmp.c_str(), "w");
    if (!f || fprintf(f, "%d\n", daemon) < 0 || fclose(f) != 0 || rename(tmp.c_str(), pidfile.c_str()) != 0) {
      fprintf(stderr, "write pidfile %s: %s\n", pidfile.c_str(), strerror(errno));
      return 1;
    }
    return 0;
  }

  close(ready[0]);
  setsid();
  int null = open("/dev/null", O_RDONLY);
  dup2(null, 0);
  dup2(out, 1);
  dup2(out, 2);
  close(null);
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &old);
  struct sigaction sa = {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);

  // State a checkpoint must carry: a memory pattern and bytes buffered in a pipe.
  std::vector<unsigned> pattern(256 * 1024);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<unsigned>(i * 2654435761u);
  int buffered[2];
  const char message[] = "zdtm protocol program: bytes in flight";
  if (pipe(buffered) != 0 || write(buffered[1], message, sizeof message) != sizeof message) {
    dprintf(out, "FAIL: pipe: %s\n", strerror(errno));
    return 1;
  }
  const unsigned long long started = start_time();
#if defined(ZDTM_PROGRAM_CHECK_NOT_RESTORED)
  // Start times count clock ticks since boot (10 ms): a dump, kill and restore done
  // within this process's first tick gave the restored process the same start time
  // and the check passed. Say ready only once the tick has passed.
  const long hz = sysconf(_SC_CLK_TCK);
  for (;;) {
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    const unsigned long long ticks = static_cast<unsigned long long>(now.tv_sec) * hz +
                                     static_cast<unsigned long long>(now.tv_nsec) / (1000000000 / hz);
    if (ticks > started + 1) break;
    usleep(2000);
  }
#endif

  if (write(ready[1], "r", 1) != 1) return 1;
  close(ready[1]);
  while (!g_stop) sigsuspend(&old);

  std::string failure;
#if defined(ZDTM_PROGRAM_CHECK_NOT_RESTORED)
  const unsigned long long now = start_time();
  if (now != started)
    failure = "start time changed from " + std::to_string(started) + " to " + std::to_string(now) +
              ": this process was restored";
#else
  for (size_t i = 0; i < pattern.size() && failure.empty(); ++i)
    if (pattern[i] != static_cast<unsigned>(i * 2654435761u)) failure = "memory pattern damaged at word " + std::to_string(i);
  char got[sizeof message] = {};
  if (failure.empty() && (read(buffered[0], got, sizeof got) != sizeof got || memcmp(got, message, sizeof got) != 0))
    failure = "the pipe lost its buffered bytes";
  (void)started;
#endif
  if (failure.empty())
    dprintf(out, "PASS\n");
  else
    dprintf(out, "FAIL: %s\n", failure.c_str());
  return 0;
}
