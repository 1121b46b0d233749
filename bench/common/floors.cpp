#include "floors.h"

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace flakelab::bench {
namespace {

using Clock = std::chrono::steady_clock;

void skip_with_errno(benchmark::State& state, const std::string& what) {
  state.SkipWithError((what + ": " + std::strerror(errno)).c_str());
}

void ForkExitWait(benchmark::State& state) {
  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return skip_with_errno(state, "fork/waitpid");
  }
}

// The child does what the CLI benchmarks' children do before their exec: output to
// /dev/null, every other fd closed.
void ForkExecStaticNoop(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>(FLAKELAB_BENCH_NOOP), nullptr};
  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::syscall(SYS_close_range, 3, ~0u, 0);
      ::execv(argv[0], argv);
      ::_exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return skip_with_errno(state, "fork/waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError((std::string("exec of ") + argv[0] + " failed").c_str());
      return;
    }
  }
}

void Memcpy(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}

void TmpfsWrite(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  char tmpl[] = "/dev/shm/flk-floor-XXXXXX";
  if (!::mkdtemp(tmpl)) return skip_with_errno(state, std::string("mkdtemp ") + tmpl);
  const std::string root = tmpl;
  std::vector<uint8_t> piece(std::min(bytes, size_t{2} << 20), 7);
  int generation = 0;
  bool failed = false;
  for (auto _ : state) {
    const std::string dir = root + "/" + std::to_string(++generation);
    const std::string file = dir + "/pages.img";
    const auto t0 = Clock::now();
    int fd = -1;
    if (::mkdir(dir.c_str(), 0700) == 0) fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      skip_with_errno(state, "mkdir/open " + file);
      failed = true;
      break;
    }
    for (size_t at = 0; at < bytes && !failed; at += piece.size()) {
      const size_t n = std::min(piece.size(), bytes - at);
      failed = ::pwrite(fd, piece.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n);
    }
    ::close(fd);
    const auto t1 = Clock::now();
    if (failed) {
      skip_with_errno(state, "pwrite " + file);
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    std::filesystem::remove_all(dir);
  }
  std::filesystem::remove_all(root);
  if (!failed) state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}

}  // namespace

double time_fork_exec_noop() {
  char* const argv[] = {const_cast<char*>(FLAKELAB_BENCH_NOOP), nullptr};
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::syscall(SYS_close_range, 3, ~0u, 0);
    ::execv(argv[0], argv);
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid)
    throw std::runtime_error(std::string("fork/waitpid for ") + argv[0] + ": " + std::strerror(errno));
  const auto t1 = Clock::now();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(std::string("exec of ") + argv[0] + " failed");
  return std::chrono::duration<double>(t1 - t0).count();
}

double time_memcpy_and_tmpfs_write(size_t bytes, const std::string& parent) {
  static std::vector<uint8_t> src, dst;
  if (src.size() != bytes) {
    src.assign(bytes, 1);
    dst.assign(bytes, 0);
  }
  const std::string dir = parent + "/floor-" + std::to_string(::getpid());
  const std::string file = dir + "/pages.img";
  const auto t0 = Clock::now();
  std::memcpy(dst.data(), src.data(), bytes);
  benchmark::DoNotOptimize(dst.data());
  benchmark::ClobberMemory();
  int fd = -1;
  if (::mkdir(dir.c_str(), 0700) == 0) fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("mkdir/open " + file + ": " + std::strerror(errno));
  const size_t piece = size_t{2} << 20;
  bool ok = true;
  for (size_t at = 0; at < bytes && ok; at += piece) {
    const size_t n = std::min(piece, bytes - at);
    ok = ::pwrite(fd, dst.data() + at, n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
  }
  const int saved = errno;
  ::close(fd);
  const auto t1 = Clock::now();
  std::filesystem::remove_all(dir);
  if (!ok) throw std::runtime_error("pwrite " + file + ": " + std::strerror(saved));
  return std::chrono::duration<double>(t1 - t0).count();
}

void register_floors(const std::vector<size_t>& bytes) {
  benchmark::RegisterBenchmark("Floor_ForkExitWait", ForkExitWait)->Unit(benchmark::kMicrosecond)->UseRealTime();
  benchmark::RegisterBenchmark("Floor_ForkExecStaticNoop", ForkExecStaticNoop)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
  for (size_t n : bytes) {
    benchmark::RegisterBenchmark("Floor_Memcpy", Memcpy)->Arg(static_cast<int64_t>(n))->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("Floor_TmpfsWrite", TmpfsWrite)
        ->Arg(static_cast<int64_t>(n))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

int run_with_floors(int argc, char** argv, const std::vector<size_t>& bytes) {
  register_floors(bytes);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace flakelab::bench
