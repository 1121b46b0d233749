// scm06, scm_ring, scm_selfloop: a victim whose unix sockets sit in SCM_RIGHTS
// reference cycles (CRIU's zdtm scm06 seed; a ring of three with two only in
// flight; a socket queued in itself). A trial starts it, dumps it (the dump
// kills it), optionally waits restore_delay_us, restores it and lets it check
// that it receives its sockets in order with their names. After the kill the
// old sockets are freed only by the kernel's unix garbage collector, so an
// immediate restore finds the names taken: the SCM06 flake, reproduced with
// unix_gc_wait=0 and fixed by the engine's default unix-gc-wait policy.
//
// With an external engine the victim is exec'd in the trial's namespaces (see
// fresh_victim.h), and for a CLI that lacks the policy (CRIU) the scenario applies it
// itself: before the restore it waits, up to unix_gc_wait, until the victim's old
// sockets are gone from the network namespace.
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "flakelab/base/duration.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/victims/socket_victims.h"
#include "flakelab/victims/victims.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/dumped_tree.h"
#include "flakelab/scenarios/fresh_victim.h"
#include "flakelab/scenarios/scenario.h"
#include "flakelab/scenarios/scm.h"

namespace flakelab::scenarios {
namespace scm {
namespace {
thread_local TrialTimes g_last;
}
const TrialTimes& last_trial_times() { return g_last; }
}  // namespace scm

namespace {

namespace victims = flakelab::victims;
using namespace std::chrono;

std::string default_wait() {
  return base::format_duration(engine::RestoreOptions{}.unix_gc_wait);
}

// Inodes of the bound unix sockets of this network namespace (/proc/net/unix rows with
// a path or an abstract name).
std::set<unsigned long> bound_unix_sockets() {
  std::ifstream table("/proc/net/unix");
  if (!table) throw std::runtime_error(fmt::format("open /proc/net/unix: {}", strerror(errno)));
  std::set<unsigned long> inodes;
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    std::istringstream row(line);
    std::string num, refs, protocol, flags, type, state, path;
    unsigned long inode = 0;
    if (!(row >> num >> refs >> protocol >> flags >> type >> state >> inode)) continue;
    if (row >> path) inodes.insert(inode);
  }
  return inodes;
}

class ScmScenario : public Scenario, public FreshVictimSource {
 public:
  using Start = pid_t (*)(const std::string& salt);
  ScmScenario(std::string name, std::string description, Start start)
      : name_(std::move(name)), description_(std::move(description)), start_(start) {}

  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> all = {
        ParamSpec::duration("unix_gc_wait", default_wait(),
                            "restore policy: how long to retry binding a name an orphaned socket still holds (0 = "
                            "off, CRIU's behaviour; e.g. 50ms, 2s); for a CLI without it (CRIU) the scenario waits "
                            "that long for the old sockets to be collected before the restore"),
        ParamSpec::integer("restore_delay_us", 0, 0, 10'000'000,
                           "microseconds to sleep between the kill (end of the dump) and the restore"),
    };
    const std::vector<ParamSpec> engine = engine_params();
    all.insert(all.end(), engine.begin(), engine.end());
    return all;
  }

  pid_t start_own_victim(const TrialContext&, const std::string& salt) override { return start_(salt); }

  TrialResult run(TrialContext& ctx) override {
    scm::g_last = {};
    std::chrono::microseconds wait{};
    try {
      wait = std::chrono::ceil<std::chrono::microseconds>(base::parse_duration(ctx.param("unix_gc_wait")));
    } catch (const std::invalid_argument& e) {
      return TrialResult::error("unix_gc_wait=" + ctx.param("unix_gc_wait") + ": " + e.what());
    }
    long long delay_us = 0;
    try {
      delay_us = std::stoll(ctx.param("restore_delay_us"));
    } catch (const std::exception&) {
      delay_us = -1;
    }
    if (delay_us < 0 || delay_us > 10'000'000)
      return TrialResult::error("restore_delay_us=" + ctx.param("restore_delay_us") + " is outside 0-10000000");

    const bool external = uses_engine_cli(ctx);
    auto setup = [&ctx, external] {
      // A CLI engine's restored victim is the CLI's child until the CLI exits, and the
      // parent-death signal is part of the image: it would die with the CLI.
      if (external) prctl(PR_SET_PDEATHSIG, 0);
      ctx.bind_self(Role::kVictim);
    };
    victims::set_victim_setup(setup);
    struct Unset {
      ~Unset() { victims::set_victim_setup(nullptr); }
    } unset;
    // Names are per network namespace (the harness gives each trial its own); the
    // salt keeps trials apart when they share one (tests, benchmarks).
    std::string salt = fmt::format("{}-{}", getpid(), ctx.index);
    pid_t pid;
    std::set<unsigned long> victim_sockets;  // those the victim bound, in its fds or only in flight
    try {
      if (external) {
        const std::set<unsigned long> before = bound_unix_sockets();
        pid = start_fresh_victim(ctx, name_, salt, setup);
        for (unsigned long inode : bound_unix_sockets())
          if (!before.contains(inode)) victim_sockets.insert(inode);
      } else {
        pid = start_(salt);
      }
    } catch (const std::exception& e) {
      return TrialResult::error(fmt::format("{}: {}", name_, e.what()));
    }
    struct Reap {
      pid_t pid;
      ~Reap() {
        if (pid > 0) victims::kill_child(pid);
      }
    } reap{pid};
    ctx.record_binding(Role::kVictim, pid);
    if (external) {
      if (auto failed = cli_cycle(ctx, pid, delay_us, wait, victim_sockets)) return *failed;
    } else {
      if (auto failed = library_cycle(ctx, pid, delay_us, wait)) return *failed;
    }
    return check_restored(ctx, pid, reap.pid);
  }

 private:
  // Lets the restored victim check itself; `reap_pid` is cleared once it was reaped.
  TrialResult check_restored(TrialContext& ctx, pid_t pid, pid_t& reap_pid) {
    if (auto cpu = ctx.cpu_of(Role::kVictim)) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(*cpu, &set);
      sched_setaffinity(pid, sizeof(set), &set);  // a restored process has the restorer's affinity
    }
    if (!victims::wait_all_sleeping(pid))
      return TrialResult::fail(fmt::format("restored victim pid {} did not go back to sleep within 5 s", pid));
    if (kill(pid, SIGUSR1) != 0) return TrialResult::fail(fmt::format("restored victim pid {} is gone: {}", pid, strerror(errno)));
    int status = victims::wait_exit(pid, 10000);
    reap_pid = -1;
    if (status == -1) return TrialResult::fail(fmt::format("restored victim pid {} did not finish its check within 10 s", pid));
    if (WIFSIGNALED(status)) return TrialResult::fail(fmt::format("restored victim pid {} was killed by signal {}", pid, WTERMSIG(status)));
    switch (WEXITSTATUS(status)) {
      case victims::kVictimOk:
        return TrialResult::pass();
      case victims::kScmBadRecv:
        return TrialResult::fail("restored victim could not receive its sockets in order");
      case victims::kScmBadName:
        return TrialResult::fail("restored victim received a socket with the wrong name");
      default:
        return TrialResult::fail(fmt::format("restored victim exited with status {}", WEXITSTATUS(status)));
    }
  }

  static void restore_delay(long long delay_us) {
    if (delay_us <= 0) return;
    auto t0 = steady_clock::now();
    std::this_thread::sleep_for(microseconds(delay_us));
    scm::g_last.restore_delay = steady_clock::now() - t0;
  }

  std::optional<TrialResult> library_cycle(TrialContext& ctx, pid_t pid, long long delay_us, microseconds wait) {
    engine::Image image;
    try {
      image = engine::dump_process(pid, {.log = ctx.engine_log()});
    } catch (const engine::EngineError& e) {
      return TrialResult::fail(fmt::format("dump: {}", e.what()));
    }
    restore_delay(delay_us);
    engine::RestoreStats stats;
    try {
      engine::restore_process(image, {.unix_gc_wait = wait, .log = ctx.engine_log()}, &stats);
    } catch (const engine::EngineError& e) {
      scm::g_last.unix_gc_waited = stats.unix_gc_waited;
      return TrialResult::fail(e.what());  // the engine's words: the flake's signature
    }
    scm::g_last.unix_gc_waited = stats.unix_gc_waited;
    return std::nullopt;
  }

  // The same cycle through an external engine. The victim shares the trial's session:
  // CRIU needs --shell-job for that, flakelab's CLI needs nothing.
  // The unix-gc-wait policy for a CLI that lacks it: waits up to `wait` until none of the
  // victim's old sockets is left (the collector freed the cycle); returns how long.
  // The restore then runs either way, as flakelab's engine binds after its wait.
  static microseconds wait_for_collector(const std::set<unsigned long>& old_sockets, microseconds wait) {
    const auto t0 = steady_clock::now();
    while (steady_clock::now() - t0 < wait) {
      bool left = false;
      for (unsigned long inode : bound_unix_sockets()) left |= old_sockets.contains(inode);
      if (!left) break;
      std::this_thread::sleep_for(microseconds(100));
    }
    return duration_cast<microseconds>(steady_clock::now() - t0);
  }

  std::optional<TrialResult> cli_cycle(TrialContext& ctx, pid_t pid, long long delay_us, microseconds wait,
                                       const std::set<unsigned long>& victim_sockets) {
    std::unique_ptr<CheckpointEngine> engine = make_engine(ctx);
    const std::vector<std::string> options =
        engine->is_flakelab() ? std::vector<std::string>{} : std::vector<std::string>{"--shell-job"};
    std::optional<base::TempDir> own_dir;
    if (ctx.temp_dir.empty()) own_dir.emplace("", "flakelab-scm-");
    const std::string dir = (own_dir ? own_dir->path() : ctx.temp_dir) + "/images";
    try {
      engine->dump({.pid = pid, .dir = dir, .leave_running = false, .options = options});
    } catch (const EngineFailure& e) {
      return TrialResult::fail(e.what());
    }
    // Our child: reaped here so that its pid is free for the restore.
    if (!wait_tree_gone({pid}, std::chrono::seconds(10)))
      return TrialResult::fail(fmt::format("dump: pid {} still runs 10 s after {} dumped it", pid, engine->describe()));
    restore_delay(delay_us);
    if (!engine->is_flakelab() && wait.count() > 0) scm::g_last.unix_gc_waited = wait_for_collector(victim_sockets, wait);
    try {
      engine->restore({.dir = dir, .options = options, .unix_gc_wait = wait});
    } catch (const EngineFailure& e) {
      return TrialResult::fail(e.what());  // the engine's words: the flake's signature
    }
    return std::nullopt;
  }

  std::string name_, description_;
  Start start_;
};

}  // namespace

std::unique_ptr<Scenario> make_scm06() {
  return std::make_unique<ScmScenario>(
      "scm06",
      "CRIU's zdtm scm06: two datagram sockets bound to abstract names, each sent to both (SCM_RIGHTS); dump, "
      "kill, restore, the victim receives them in order and checks each name",
      victims::start_scm06_victim);
}
std::unique_ptr<Scenario> make_scm_ring() {
  return std::make_unique<ScmScenario>(
      "scm_ring",
      "three abstract-named datagram sockets in a ring (each queued in the next), two only in flight; dump, kill, "
      "restore, the victim walks the ring and checks every name",
      victims::start_scm_ring_victim);
}
std::unique_ptr<Scenario> make_scm_selfloop() {
  return std::make_unique<ScmScenario>(
      "scm_selfloop",
      "an abstract-named datagram socket queued in itself twice; dump, kill, restore, the victim receives itself",
      victims::start_scm_selfloop_victim);
}

}  // namespace flakelab::scenarios
