// compel/rsys: remote getpid, mmap, munmap and close in a live victim, each result
// checked against /proc; afterwards the victim itself confirms what it sees.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

#include <fmt/format.h>

#include "flakelab/compel/error.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "victim_process.h"

namespace flakelab::scenarios {
namespace {

using namespace compel_support;
namespace compel = flakelab::compel;

// The line of /proc/PID/maps that starts at `addr`, or empty.
std::string maps_line_at(pid_t pid, uint64_t addr) {
  std::istringstream maps(compel::proc::read_file(fmt::format("/proc/{}/maps", pid)));
  std::string line;
  std::string prefix = fmt::format("{:x}-", addr);
  while (std::getline(maps, line))
    if (line.rfind(prefix, 0) == 0) return line;
  return {};
}

bool fd_exists(pid_t pid, int fd) { return ::access(fmt::format("/proc/{}/fd/{}", pid, fd).c_str(), F_OK) == 0; }

class RsysScenario : public Scenario {
 public:
  std::string name() const override { return "compel/rsys"; }
  std::string description() const override {
    return "remote getpid/mmap/munmap/close in a victim, checked against /proc and by the victim";
  }

  std::vector<std::string> jitter_points() const override { return {"before_seize", "between_rpcs"}; }

  TrialResult run(TrialContext& ctx) override {
    PipePair ping = PipePair::make();
    PipePair pong = PipePair::make();
    VictimProcess victim(ctx, Role::kVictim, [&] {
      int devnull = ::open("/dev/null", O_RDONLY);
      write_quiet(pong.write.get(), &devnull, sizeof(devnull));
      for (;;) {  // on each ping, report whether /dev/null is still open
        char c;
        if (::read(ping.read.get(), &c, 1) != 1) ::_exit(0);
        int flags = ::fcntl(devnull, F_GETFD);
        int reply[2] = {flags, flags < 0 ? errno : 0};
        write_quiet(pong.write.get(), reply, sizeof(reply));
      }
    });
    ctx.record_binding(Role::kVictim, victim.pid());
    const pid_t pid = victim.pid();
    int devnull = -1;
    if (!read_exact(pong.read.get(), &devnull, sizeof(devnull)) || devnull < 0)
      return TrialResult::fail("victim did not open /dev/null");

    try {
      ctx.jitter_point("before_seize");
      compel::SeizedProcess process(pid);
      compel::RemoteSession rs(process.leader());
      long got = rs.syscall(SYS_getpid);
      auto status = compel::proc::read_status(pid);
      if (got != pid || !status || status->tgid != got)
        return TrialResult::fail(fmt::format("remote getpid returned {}, /proc says tgid {}", got, status ? status->tgid : -1));

      ctx.jitter_point("between_rpcs");
      const long size = 3 * 4096;
      long addr = rs.syscall_checked("mmap", SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      std::string line = maps_line_at(pid, static_cast<uint64_t>(addr));
      std::string want = fmt::format("{:x}-{:x} rw-p 00000000 00:00 0", addr, addr + size);
      if (line.rfind(want, 0) != 0)
        return TrialResult::fail(fmt::format("remote mmap returned {:#x} but /proc/{}/maps has '{}'", addr, pid, line));
      if (long r = rs.syscall(SYS_munmap, addr, size); r != 0)
        return TrialResult::fail(fmt::format("remote munmap returned {}", r));
      if (!maps_line_at(pid, static_cast<uint64_t>(addr)).empty())
        return TrialResult::fail(fmt::format("{:#x} still mapped after remote munmap", addr));

      ctx.jitter_point("between_rpcs");
      if (!fd_exists(pid, devnull)) return TrialResult::fail(fmt::format("fd {} missing before remote close", devnull));
      if (long r = rs.syscall(SYS_close, devnull); r != 0)
        return TrialResult::fail(fmt::format("remote close({}) returned {}", devnull, r));
      if (fd_exists(pid, devnull)) return TrialResult::fail(fmt::format("fd {} still in /proc after remote close", devnull));
      if (long r = rs.syscall(SYS_close, devnull); r != -EBADF)
        return TrialResult::fail(fmt::format("second remote close({}) returned {}, expected -EBADF", devnull, r));
    } catch (const compel::CompelError& e) {
      return TrialResult::fail(e.what());
    }

    char c = 'p';
    write_all(ping.write.get(), &c, 1);
    int reply[2];
    if (!read_exact(pong.read.get(), reply, sizeof(reply))) return TrialResult::fail("victim did not answer after release");
    if (reply[0] != -1 || reply[1] != EBADF)
      return TrialResult::fail(fmt::format("victim still sees fd {} open after remote close (fcntl {} errno {})", devnull,
                                           reply[0], reply[1]));
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_compel_rsys() { return std::make_unique<RsysScenario>(); }

}  // namespace flakelab::scenarios
