#include "flakelab/harness/noise.h"

#include <errno.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "flakelab/base/child_process.h"
#include "flakelab/base/os_error.h"
#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/pipe_fds.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

constexpr NoiseKind kKinds[] = {NoiseKind::kSpin, NoiseKind::kCache, NoiseKind::kSyscall};
constexpr NoiseWhere kWheres[] = {NoiseWhere::kSmtSibling, NoiseWhere::kSameL3, NoiseWhere::kOtherL3};
constexpr uint64_t kMaxCacheBuffer = 64ULL << 20;  // a VM may report a huge host L3
constexpr uint64_t kDefaultCacheBuffer = 16ULL << 20;
constexpr int kReadyTimeoutMs = 5000;

UsageError noise_error(std::string_view text, std::string_view why) {
  return UsageError(fmt::format(
      "bad --noise '{}': {}; expected KIND@WHERE[,KIND@WHERE...] with KIND spin, cache or "
      "syscall and WHERE smt-sibling, same-l3 or other-l3, e.g. --noise spin@smt-sibling",
      text, why));
}

[[noreturn]] void noise_loop(NoiseKind kind, uint64_t cache_bytes) {
  switch (kind) {
    case NoiseKind::kSpin: {
      volatile uint64_t x = 1;
      for (;;) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    case NoiseKind::kCache: {
      void* mem = ::mmap(nullptr, cache_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) ::_exit(3);
      auto* bytes = static_cast<volatile uint8_t*>(mem);
      for (uint8_t round = 0;; ++round) {
        for (uint64_t i = 0; i < cache_bytes; i += 64) bytes[i] = round;
      }
    }
    case NoiseKind::kSyscall:
      for (;;) {
        ::syscall(SYS_getppid);
        timespec ts;
        ::syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
      }
  }
  ::_exit(4);
}

}  // namespace

const char* to_string(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::kSpin: return "spin";
    case NoiseKind::kCache: return "cache";
    case NoiseKind::kSyscall: return "syscall";
  }
  return "unknown-noise";
}

const char* to_string(NoiseWhere where) {
  switch (where) {
    case NoiseWhere::kSmtSibling: return "smt-sibling";
    case NoiseWhere::kSameL3: return "same-l3";
    case NoiseWhere::kOtherL3: return "other-l3";
  }
  return "unknown-where";
}

std::vector<NoiseSpec> parse_noise(std::string_view text) {
  std::vector<NoiseSpec> specs;
  if (text.empty()) return specs;
  std::string_view rest = text;
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t at = item.find('@');
    if (at == std::string_view::npos) throw noise_error(text, fmt::format("'{}' has no '@'", item));
    NoiseSpec spec;
    const std::string_view kind = item.substr(0, at);
    const std::string_view where = item.substr(at + 1);
    auto k = std::find_if(std::begin(kKinds), std::end(kKinds), [&](NoiseKind n) { return kind == to_string(n); });
    if (k == std::end(kKinds)) throw noise_error(text, fmt::format("unknown noise kind '{}'", kind));
    auto w = std::find_if(std::begin(kWheres), std::end(kWheres), [&](NoiseWhere n) { return where == to_string(n); });
    if (w == std::end(kWheres)) throw noise_error(text, fmt::format("unknown noise place '{}'", where));
    spec.kind = *k;
    spec.where = *w;
    specs.push_back(spec);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return specs;
}

std::string format_noise(const std::vector<NoiseSpec>& specs) {
  std::string out;
  for (const NoiseSpec& spec : specs) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}@{}", to_string(spec.kind), to_string(spec.where));
  }
  return out;
}

NoiseProcess::NoiseProcess(const Topology& topology, NoiseThread thread)
    : thread_(thread), child_([&] {
        const uint64_t l3 = topology.pu(thread.cpu).l3_bytes;
        const uint64_t cache_bytes = l3 == 0 ? kDefaultCacheBuffer : std::min(2 * l3, kMaxCacheBuffer);
        PipeFds ready = make_pipe();
        std::fflush(stdout);
        std::fflush(stderr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw os_error(fmt::format("fork (noise {} on CPU {})", to_string(thread.kind), thread.cpu));
        if (pid == 0) {
          const int fd = ready.write.get();
          if (fd > 3) ::close_range(3, static_cast<unsigned>(fd) - 1, 0);
          ::close_range(static_cast<unsigned>(std::max(fd + 1, 3)), ~0U, 0);
          reset_signal_dispositions();
          ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
          if (::getppid() != parent) ::_exit(0);
          std::string answer = "R";
          try {
            topology.bind_current_process(thread.cpu);
          } catch (const std::exception& e) {
            answer = std::string("E") + e.what();
          }
          (void)!::write(fd, answer.data(), answer.size());
          if (answer != "R") ::_exit(1);
          ::close(fd);
          noise_loop(thread.kind, cache_bytes);
        }
        base::ChildProcess child = [&] {
          try {
            return base::ChildProcess(pid);  // kills and reaps the child if it cannot open its pidfd
          } catch (const base::OsError& e) {
            throw HarnessError(fmt::format("noise {} on CPU {}: {}", to_string(thread.kind), thread.cpu, e.what()));
          }
        }();
        ready.write.reset();
        pollfd pfd{ready.read.get(), POLLIN, 0};
        int n;
        while ((n = ::poll(&pfd, 1, kReadyTimeoutMs)) < 0 && errno == EINTR) {
        }
        if (n <= 0) {
          throw HarnessError(fmt::format("noise {} pid {} did not pin itself to CPU {} within {} ms",
                                         to_string(thread.kind), pid, thread.cpu, kReadyTimeoutMs));
        }
        char buf[512];
        ssize_t got = ::read(ready.read.get(), buf, sizeof buf);
        if (got <= 0 || buf[0] != 'R') {
          throw HarnessError(fmt::format("noise {} pid {} on CPU {}: {}", to_string(thread.kind), pid, thread.cpu,
                                         got > 1 ? std::string(buf + 1, static_cast<size_t>(got - 1))
                                                 : std::string("exited before it was pinned")));
        }
        const std::vector<int> cpus = thread_affinity(pid);
        if (cpus != std::vector<int>{thread.cpu}) {
          throw HarnessError(fmt::format("binding check: noise pid {} may run on CPUs {}, expected only CPU {}",
                                         pid, format_cpu_list(cpus), thread.cpu));
        }
        return child;
      }()) {}

bool NoiseProcess::alive() const {
  pollfd pfd{child_.pidfd(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 0;
}

}  // namespace flakelab::harness
