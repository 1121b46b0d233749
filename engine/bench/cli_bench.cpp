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
//
// BM_VsCriu puts CRIU beside it in the same run when FLAKELAB_CRIU names a criu
// binary: each iteration dumps and restores one victim with flakelab and an identical
// victim with CRIU (both into a new directory on tmpfs, both detached restores), so
// load on the machine hits both alike; the counters are the medians of each step and
// CRIU's time over flakelab's. CRIU caches its kernel feature probe (kdat) only when
// /run is tmpfs, so with FLAKELAB_CRIU set the benchmark runs in a private mount
// namespace with a tmpfs on /run (re-executed there) and fills the cache (`criu
// check`) before timing.
// The machine's floors (fork + exec of a static no-op, memcpy and tmpfs write of the
// same sizes) are registered beside these (bench/common/floors.h).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "floors.h"
#include "flakelab/victims/victims.h"

namespace {

namespace victims = flakelab::victims;
using Clock = std::chrono::steady_clock;

constexpr size_t kBig = size_t{256} << 20;

// Runs `binary` with `args`, output discarded; returns its exit status.
int run(const char* binary, const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    syscall(SYS_close_range, 3, ~0u, 0);
    std::vector<char*> argv{const_cast<char*>(binary)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary, argv.data());
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error(std::string("fork for ") + binary + ": " + std::strerror(errno));
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int flakelab(const std::vector<std::string>& args) { return run(FLAKELAB_BIN, args); }

// The criu binary FLAKELAB_CRIU names, or nullptr.
const char* criu_binary() {
  const char* criu = getenv("FLAKELAB_CRIU");
  return criu && *criu ? criu : nullptr;
}

// The last lines of CRIU's log in `dir`, for an error message.
std::string criu_log_tail(const std::string& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string tail;
  for (size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) tail += "\n  " + lines[i];
  return tail.empty() ? " (no log at " + log + ")" : tail;
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

enum class Tool { kFlakelab, kCriu };

class Bench {
 public:
  explicit Bench(size_t dirty, Tool tool = Tool::kFlakelab) : tool_(tool) {
    // Images on tmpfs: the disk's writeback throttling is not what this measures.
    char tmpl[] = "/dev/shm/flk-clibench-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp /dev/shm/flk-clibench-*: ") + std::strerror(errno));
    dir_ = tmpl;
    images_ = dir_ + "/images";
    if (mkdir(images_.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + images_ + ": " + std::strerror(errno));
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
    if (mkdir(images_.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + images_ + ": " + std::strerror(errno));
  }
  double dump() {
    const std::string pid = std::to_string(pid_);
    auto t0 = Clock::now();
    int rc = tool_ == Tool::kFlakelab
                 ? flakelab({"dump", "-t", pid, "-D", images_})
                 : run(criu_binary(), {"dump", "-t", pid, "-D", images_, "--shell-job", "-o", "dump.log"});
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rc != 0) throw std::runtime_error(failure("dump of " + pid, rc, "dump.log"));
    int status;
    waitpid(pid_, &status, 0);   // the tool killed it; we are its parent
    return s;
  }
  double restore() {
    auto t0 = Clock::now();
    int rc = tool_ == Tool::kFlakelab ? flakelab({"restore", "-D", images_, "-d"})
                                      : run(criu_binary(), {"restore", "-D", images_, "-d", "--shell-job", "-o", "restore.log"});
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rc != 0) throw std::runtime_error(failure("restore from " + images_, rc, "restore.log"));
    return s;
  }
  size_t image_bytes() const {
    return std::filesystem::file_size(images_ + "/pages.img") + std::filesystem::file_size(images_ + "/process.img");
  }

 private:
  std::string failure(const std::string& what, int rc, const char* criu_log) const {
    std::string text = std::string(tool_ == Tool::kFlakelab ? "flakelab " : "criu ") + what + " failed: exit status " + std::to_string(rc);
    if (tool_ == Tool::kCriu) text += criu_log_tail(images_ + "/" + criu_log);
    return text;
  }

  Tool tool_;
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

// The floor under any restore or dump through the CLI: starting the binary (the
// static no-op's fork + exec, Floor_ForkExecStaticNoop, is the machine's floor).
void BM_CliVersion(benchmark::State& state) {
  for (auto _ : state) flakelab({"--version"});
}
BENCHMARK(BM_CliVersion)->Unit(benchmark::kMillisecond)->UseRealTime();

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// flakelab and CRIU side by side, alternating within each iteration (see the top),
// and the floors taken in the same iteration: a fork + exec of the static no-op for
// the small victim, a memcpy + write of the same size into a new tmpfs file for the
// big one. Load from elsewhere moves all of them alike; the ratios are what carry over.
// Manual time: flakelab's dump + restore.
void BM_VsCriu(benchmark::State& state) {
  if (!criu_binary()) return state.SkipWithError("FLAKELAB_CRIU does not name a criu binary");
  const auto dirty = static_cast<size_t>(state.range(0));
  Bench flk(dirty, Tool::kFlakelab), criu(dirty, Tool::kCriu);
  std::vector<double> fd, fr, cd, cr, floor;
  // A failed step ends the benchmark with its message; the victims are still killed.
  try {
    for (auto _ : state) {
      flk.fresh_directory();
      criu.fresh_directory();
      fd.push_back(flk.dump());
      fr.push_back(flk.restore());
      cd.push_back(criu.dump());
      cr.push_back(criu.restore());
      floor.push_back(dirty ? flakelab::bench::time_memcpy_and_tmpfs_write(dirty, "/dev/shm")
                            : flakelab::bench::time_fork_exec_noop());
      state.SetIterationTime(fd.back() + fr.back());
    }
  } catch (const std::exception& e) {
    return state.SkipWithError(e.what());
  }
  const double ms = 1000;
  state.counters["flk_dump_ms"] = median(fd) * ms;
  state.counters["flk_restore_ms"] = median(fr) * ms;
  state.counters["criu_dump_ms"] = median(cd) * ms;
  state.counters["criu_restore_ms"] = median(cr) * ms;
  state.counters["floor_ms"] = median(floor) * ms;
  state.counters["criu_over_flk_dump"] = median(cd) / median(fd);
  state.counters["criu_over_flk_restore"] = median(cr) / median(fr);
  state.counters["flk_dump_over_floor"] = median(fd) / median(floor);
  state.counters["flk_restore_over_floor"] = median(fr) / median(floor);
  state.SetLabel(dirty ? "floor: memcpy + new tmpfs file of the same size" : "floor: fork + exec of a static no-op");
}
BENCHMARK(BM_VsCriu)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// CRIU keeps its kernel feature probe in /run/criu.kdat only on a tmpfs: give it one
// in a private mount namespace (nothing else of ours uses /run) and fill it once.
// Then this binary execs itself there: the victims it forks map it and its libraries,
// and CRIU cannot resolve files opened in another mount namespace.
constexpr const char* kInCriuNamespace = "FLAKELAB_CLI_BENCH_IN_CRIU_NS";

void enter_criu_namespace(const char* criu, char** argv) {
  if (unshare(CLONE_NEWNS) != 0) throw std::runtime_error(std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    throw std::runtime_error(std::string("mount --make-rprivate /: ") + std::strerror(errno));
  if (mount("none", "/run", "tmpfs", 0, nullptr) != 0)
    throw std::runtime_error(std::string("mount tmpfs on /run: ") + std::strerror(errno));
  if (int rc = run(criu, {"check"}); rc != 0)
    throw std::runtime_error(std::string(criu) + " check failed: exit status " + std::to_string(rc));
  if (access("/run/criu.kdat", F_OK) != 0) throw std::runtime_error(std::string(criu) + " check left no /run/criu.kdat");
  if (setenv(kInCriuNamespace, "1", 1) != 0) throw std::runtime_error(std::string("setenv: ") + std::strerror(errno));
  // By name: /proc/self/exe would open the file through the old namespace's mount.
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  execv(self.c_str(), argv);
  throw std::runtime_error("execv " + self + ": " + std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
  // Restored processes are orphaned when `flakelab restore -d` exits: adopt them.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    perror("prctl(PR_SET_CHILD_SUBREAPER)");
    return 1;
  }
  if (const char* criu = criu_binary(); criu && !getenv(kInCriuNamespace)) {
    try {
      enter_criu_namespace(criu, argv);
    } catch (const std::exception& e) {
      fprintf(stderr, "engine_cli_bench: FLAKELAB_CRIU=%s: %s\n", criu, e.what());
      return 1;
    }
  }
  // The small victim's image is about 1 MiB of pages; the big one 256 MiB.
  return flakelab::bench::run_with_floors(argc, argv, {size_t{1} << 20, kBig});
}
