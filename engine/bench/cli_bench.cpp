// `flakelab dump` and `flakelab restore -d` as a user runs them: the whole command
// (exec, dynamic linking, image directory on disk) for a small idle process and
// for one with 256 MiB of dirty anonymous memory. Each iteration dumps the victim
// (the CLI kills it; we reap it as its parent) and restores it detached; we are
// the child subreaper, so the restored process, orphaned when the CLI exits,
// becomes our child again for the next round. Only the timed command counts.
// The image directory is on tmpfs (/dev/shm). BM_CliDump dumps into the same
// directory every time, as a stress loop does, so from the second iteration on the
// dump rewrites the previous pages.img in place (engine/README.md, "Large images");
// BM_CliDumpFresh dumps into a new directory each time (the old one is removed
// outside the timed part).
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/victims/victims.h"

namespace {

namespace victims = flakelab::victims;
using Clock = std::chrono::steady_clock;

constexpr size_t kBig = size_t{256} << 20;

// Runs flakelab with `args`, output discarded; returns its exit status.
int flakelab(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    syscall(SYS_close_range, 3, ~0u, 0);
    std::vector<char*> argv{const_cast<char*>(FLAKELAB_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(FLAKELAB_BIN, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t start_idle_victim(size_t dirty) {
  return victims::start_victim("idle victim", [dirty](int ready) {
    prctl(PR_SET_PDEATHSIG, 0);   // outlives the restoring CLI
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    syscall(SYS_close_range, 3, ready - 1, 0);
    syscall(SYS_close_range, ready + 1, ~0u, 0);
    if (dirty) {
      auto* p = static_cast<uint8_t*>(mmap(nullptr, dirty, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      for (size_t i = 0; i < dirty; i += 64) p[i] = static_cast<uint8_t>(i >> 6);
    }
    if (write(ready, "r", 1) != 1) _exit(100);
    close(ready);
    for (;;) pause();
  });
}

class Bench {
 public:
  explicit Bench(size_t dirty) {
    // Images on tmpfs: the disk's writeback throttling is not what this measures.
    char tmpl[] = "/dev/shm/flk-clibench-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    images_ = dir_ + "/images";
    pid_ = start_idle_victim(dirty);
  }
  ~Bench() {
    victims::kill_child(pid_);
    std::filesystem::remove_all(dir_);
  }
  // Moves on to a new image directory, removing the current one (not timed).
  void fresh_directory() {
    std::filesystem::remove_all(images_);
    images_ = dir_ + "/images-" + std::to_string(++generation_);
  }
  double dump() {
    auto t0 = Clock::now();
    int rc = flakelab({"dump", "-t", std::to_string(pid_), "-D", images_});
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rc != 0) throw std::runtime_error("flakelab dump failed: " + std::to_string(rc));
    int status;
    waitpid(pid_, &status, 0);   // the CLI killed it; we are its parent
    return s;
  }
  double restore() {
    auto t0 = Clock::now();
    int rc = flakelab({"restore", "-D", images_, "-d"});
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rc != 0) throw std::runtime_error("flakelab restore failed: " + std::to_string(rc));
    return s;
  }
  size_t image_bytes() const {
    return std::filesystem::file_size(images_ + "/pages.img") + std::filesystem::file_size(images_ + "/process.img");
  }

 private:
  std::string dir_, images_;
  pid_t pid_;
  int generation_ = 0;
};

void BM_CliDump(benchmark::State& state) {
  Bench b(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    state.SetIterationTime(b.dump());
    b.restore();
  }
  state.counters["image_KiB"] = static_cast<double>(b.image_bytes()) / 1024;
}
BENCHMARK(BM_CliDump)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_CliDumpFresh(benchmark::State& state) {
  Bench b(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    b.fresh_directory();
    state.SetIterationTime(b.dump());
    b.restore();
  }
}
BENCHMARK(BM_CliDumpFresh)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_CliRestore(benchmark::State& state) {
  Bench b(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    b.dump();
    state.SetIterationTime(b.restore());
  }
}
BENCHMARK(BM_CliRestore)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The floor under any restore or dump through the CLI: starting the binary.
void BM_CliVersion(benchmark::State& state) {
  for (auto _ : state) flakelab({"--version"});
}
BENCHMARK(BM_CliVersion)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Restored processes are orphaned when `flakelab restore -d` exits: adopt them.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
