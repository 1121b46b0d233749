// In-library dump and restore (no exec, no image directory): the numbers the
// harness lives on; and the same through an image directory on tmpfs, as the
// CLI does it without the exec. Each iteration dumps the victim (killing it) and restores it
// with the same pid; the two phases are timed separately (manual time). Victims:
// a small idle process, and one with 256 MiB of dirty anonymous memory (reported
// next to the floors: memcpy and a tmpfs write of 1 MiB and 256 MiB, fork + exec;
// bench/common/floors.h).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/log.h"
#include "flakelab/engine/restore.h"
#include "floors.h"
#include "logged_step.h"

using namespace flakelab::engine;

namespace {

bool sleeping(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'S';
}

constexpr size_t kBig = size_t{256} << 20;

pid_t start_idle_victim(size_t dirty = 0) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    syscall(SYS_close_range, 0, ~0u, 0);
    if (dirty) {
      auto* p = static_cast<uint8_t*>(mmap(nullptr, dirty, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      for (size_t i = 0; i < dirty; i += 64) p[i] = static_cast<uint8_t>(i >> 6);
    }
    for (;;) pause();
  }
  while (!sleeping(pid)) std::this_thread::sleep_for(std::chrono::microseconds(100));
  return pid;
}

void stop_victim(pid_t pid) {
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
}

using Clock = std::chrono::steady_clock;

void BM_Dump(benchmark::State& state) {
  pid_t pid = start_idle_victim(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto t0 = Clock::now();
    Image image = dump_process(pid);
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    state.counters["pages_KiB"] = static_cast<double>(image.root().pages.size()) / 1024;
    restore_process(image);
  }
  stop_victim(pid);
}
BENCHMARK(BM_Dump)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Restore(benchmark::State& state) {
  pid_t pid = start_idle_victim(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    Image image = dump_process(pid);
    auto t0 = Clock::now();
    restore_process(image);
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  stop_victim(pid);
}
BENCHMARK(BM_Restore)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// An image directory on tmpfs (the CLI benchmarks' place), removed with its contents.
struct ShmDir {
  ShmDir() {
    char tmpl[] = "/dev/shm/flk-bench-XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
  }
  ~ShmDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  std::string path;  // empty if mkdtemp failed
};

// The CLI's dump without the exec: straight into an image directory on tmpfs,
// then restored from it (untimed) for the next round.
void BM_DumpToDir(benchmark::State& state) {
  ShmDir shm;
  if (shm.path.empty()) return state.SkipWithError("mkdtemp in /dev/shm");
  const std::string& dir = shm.path;
  pid_t pid = start_idle_victim(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto t0 = Clock::now();
    dump_process_to_dir(pid, dir);
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    restore_process(read_image_dir(dir, PagesCheck::kByRestore));
  }
  stop_victim(pid);
}
BENCHMARK(BM_DumpToDir)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The CLI's restore without the exec: from an image directory on tmpfs, the
// pages checked as they are copied.
void BM_RestoreFromDir(benchmark::State& state) {
  ShmDir shm;
  if (shm.path.empty()) return state.SkipWithError("mkdtemp in /dev/shm");
  const std::string& dir = shm.path;
  pid_t pid = start_idle_victim(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    dump_process_to_dir(pid, dir);
    auto t0 = Clock::now();
    restore_process(read_image_dir(dir, PagesCheck::kByRestore));
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  stop_victim(pid);
}
BENCHMARK(BM_RestoreFromDir)->Arg(0)->Arg(kBig)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The floor under a dump into an image directory on tmpfs: 256 MiB written with
// pwrite in 2 MiB pieces from a cache-hot buffer, into a new file (arg 0: tmpfs
// allocates every page) or over the pages of the previous one (arg 1: what a
// dump that rewrites pages.img in place faces). Freeing the file is not timed.
void BM_TmpfsWrite256MiB(benchmark::State& state) {
  ShmDir shm;
  if (shm.path.empty()) return state.SkipWithError("mkdtemp in /dev/shm");
  const bool rewrite = state.range(0) != 0;
  const std::string path = shm.path + "/pages";
  std::vector<uint8_t> piece(size_t{2} << 20, 7);
  auto write_all = [&](int fd) {
    for (size_t at = 0; at < kBig; at += piece.size())
      if (pwrite(fd, piece.data(), piece.size(), static_cast<off_t>(at)) != static_cast<ssize_t>(piece.size()))
        return false;
    return true;
  };
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | (rewrite ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
    if (fd < 0) return state.SkipWithError("open in /dev/shm");
    if (rewrite && !write_all(fd)) return state.SkipWithError("pwrite");  // the pages to rewrite (untimed)
    auto t0 = Clock::now();
    bool ok = write_all(fd);
    auto t1 = Clock::now();
    ::close(fd);
    if (!ok) return state.SkipWithError("pwrite");
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    ::unlink(path.c_str());
  }
}
BENCHMARK(BM_TmpfsWrite256MiB)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

namespace {

// One logged step of a dump or restore: 0 = no logger (the default of every dump and
// restore), 1 = a logger below debug (-v3), 2 = logged at -v4 into a discarding stream.
// The first two are what "zero cost when off" means: compare them with BM_Dump/0.
void BM_LoggedStep(benchmark::State& state) {
  std::ostringstream sink;
  auto log = state.range(0) == 0 ? nullptr : make_engine_log(sink, state.range(0) == 1 ? 3 : 4);
  for (auto _ : state) {
    LoggedStep step(log.get(), "dump", 42, "freeze");
    benchmark::ClobberMemory();
    if (sink.tellp() > (1 << 20)) sink.str({});
  }
}
BENCHMARK(BM_LoggedStep)->Arg(0)->Arg(1)->Arg(2);

}  // namespace

int main(int argc, char** argv) {
  // The small victim's image is about 1 MiB of pages; the big one 256 MiB.
  return flakelab::bench::run_with_floors(argc, argv, {size_t{1} << 20, kBig});
}
