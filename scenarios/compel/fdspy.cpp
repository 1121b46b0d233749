// compel/fdspy: the injector receives every fd of the victim through the parasite
// (SCM_RIGHTS) and checks each against /proc/PID/fd and fdinfo (inode, type, offset,
// flags); through the received pipe it reads the data the victim wrote.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <random>

#include <fmt/format.h>

#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/seized_process.h"
#include "victim_process.h"

namespace flakelab::scenarios {
namespace {

using namespace compel_support;
namespace compel = flakelab::compel;

struct FdInfo {
  long pos = -1;
  int flags = 0;
};

FdInfo parse_fdinfo(const std::string& text) {
  FdInfo info;
  if (auto p = text.find("pos:"); p != std::string::npos) info.pos = std::strtol(text.c_str() + p + 4, nullptr, 10);
  if (auto p = text.find("flags:"); p != std::string::npos)
    info.flags = static_cast<int>(std::strtol(text.c_str() + p + 6, nullptr, 8));
  return info;
}

const char* kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISFIFO(mode)) return "pipe";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "chardev";
  if (S_ISDIR(mode)) return "dir";
  return "other";
}

class FdspyScenario : public Scenario {
 public:
  std::string name() const override { return "compel/fdspy"; }
  std::string description() const override {
    return "receive all victim fds via the parasite; check inode/type/offset/flags against /proc; read a pipe the victim wrote";
  }

  std::vector<std::string> jitter_points() const override { return {"before_seize", "before_cure"}; }

  TrialResult run(TrialContext& ctx) override {
    const std::string secret = fmt::format("fdspy secret {:016x}", ctx.seed);
    char path[] = "/tmp/flakelab-fdspy-XXXXXX";
    UniqueFd tmp(::mkstemp(path));
    if (!tmp) throw std::system_error(errno, std::generic_category(), "mkstemp");
    const long file_offset = 7 + static_cast<long>(ctx.seed % 50);
    PipePair ready = PipePair::make();
    PipePair hold = PipePair::make();
    VictimProcess victim(ctx, Role::kVictim, [&] {
      int data[2];
      if (::pipe(data) != 0) ::_exit(2);
      write_quiet(data[1], secret.data(), secret.size());
      int file = ::open(path, O_RDWR);
      write_quiet(file, "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz", 72);
      ::lseek(file, file_offset, SEEK_SET);
      int appender = ::open(path, O_WRONLY | O_APPEND);
      int devnull = ::open("/dev/null", O_WRONLY | O_NONBLOCK);
      int sp[2];
      ::socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
      int fds[6] = {data[0], data[1], file, appender, devnull, sp[0]};
      write_quiet(ready.write.get(), fds, sizeof(fds));
      char c;
      while (::read(hold.read.get(), &c, 1) < 0) {
      }
      ::_exit(0);
    });
    ctx.record_binding(Role::kVictim, victim.pid());
    const pid_t pid = victim.pid();
    int fds[6];
    bool ok = read_exact(ready.read.get(), fds, sizeof(fds));
    ::unlink(path);
    if (!ok) return TrialResult::fail("victim did not set up its fds");
    const int pipe_read_fd = fds[0];

    try {
      ctx.jitter_point("before_seize");
      compel::SeizedProcess process(pid);
      compel::Parasite parasite(process, compel::default_parasite_blob());
      std::vector<int> listed = compel::proc::list_fds(pid);
      auto received = parasite.receive_fds();
      if (received.size() + 1 != listed.size())
        return TrialResult::fail(fmt::format("received {} fds, victim has {} besides the parasite socket", received.size(),
                                             listed.size() - 1));
      bool read_secret = false;
      std::map<std::string, int> kinds;
      for (auto& r : received) {
        struct stat mine {}, theirs {};
        if (::fstat(r.fd.get(), &mine) != 0) return TrialResult::fail(fmt::format("fstat of received fd {} failed", r.victim_fd));
        std::string link = fmt::format("/proc/{}/fd/{}", pid, r.victim_fd);
        if (::stat(link.c_str(), &theirs) != 0) return TrialResult::fail("stat " + link + " failed");
        if (mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev || (mine.st_mode & S_IFMT) != (theirs.st_mode & S_IFMT))
          return TrialResult::fail(fmt::format("fd {}: received {} ino {} but /proc says {} ino {}", r.victim_fd,
                                               kind_of(mine.st_mode), mine.st_ino, kind_of(theirs.st_mode), theirs.st_ino));
        FdInfo info = parse_fdinfo(compel::proc::read_file(fmt::format("/proc/{}/fdinfo/{}", pid, r.victim_fd)));
        const int interesting = O_ACCMODE | O_APPEND | O_NONBLOCK;
        int flags = ::fcntl(r.fd.get(), F_GETFL);
        if ((flags & interesting) != (info.flags & interesting))
          return TrialResult::fail(fmt::format("fd {} ({}): flags {:o} but fdinfo says {:o}", r.victim_fd,
                                               kind_of(mine.st_mode), flags & interesting, info.flags & interesting));
        // Only the victim's own files: a file it inherited (a log of the harness's, say)
        // shares its offset with processes that may write to it while we look.
        bool opened_by_victim = std::find(std::begin(fds), std::end(fds), r.victim_fd) != std::end(fds);
        if (S_ISREG(mine.st_mode) && opened_by_victim) {
          long pos = ::lseek(r.fd.get(), 0, SEEK_CUR);
          if (pos != info.pos)
            return TrialResult::fail(fmt::format("fd {}: offset {} but fdinfo says {}", r.victim_fd, pos, info.pos));
          if (r.victim_fd == fds[2] && pos != file_offset)
            return TrialResult::fail(fmt::format("file fd {}: offset {} but the victim seeked to {}", r.victim_fd, pos, file_offset));
        }
        if (r.victim_fd == pipe_read_fd) {
          std::string got(secret.size(), '\0');
          if (!read_exact(r.fd.get(), got.data(), got.size(), 1000) || got != secret)
            return TrialResult::fail(fmt::format("pipe fd {}: read '{}' instead of what the victim wrote", r.victim_fd, got));
          read_secret = true;
        }
        kinds[kind_of(mine.st_mode)]++;
      }
      if (!read_secret) return TrialResult::fail(fmt::format("the victim's pipe fd {} was not received", pipe_read_fd));
      if (kinds["pipe"] < 2 || kinds["file"] < 2 || kinds["socket"] < 1 || kinds["chardev"] < 1)
        return TrialResult::fail("received fds are missing a kind the victim opened");
      ctx.jitter_point("before_cure");
      parasite.cure();
    } catch (const compel::CompelError& e) {
      return TrialResult::fail(e.what());
    }
    if (!victim.alive()) return TrialResult::fail("victim died after cure");
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_compel_fdspy() { return std::make_unique<FdspyScenario>(); }

}  // namespace flakelab::scenarios
