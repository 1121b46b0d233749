// cr/<victim>: start one of the engine's self-checking victims, checkpoint it (the
// dump kills it), restore it with the same pid, repeat `cycles` times, then let it
// check everything it set up. The verdict is the victim's own: which parts of its
// state came back damaged. Engine errors fail the trial with the engine's message.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "cr_victims.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/dumped_tree.h"
#include "flakelab/scenarios/fresh_victim.h"
#include "flakelab/victims/victims.h"

namespace flakelab::scenarios {
namespace {

using cr::CrVictim;
namespace victims = flakelab::victims;

// A directory under the trial's temp dir ($TMPDIR, /tmp) removed with everything in it.
// Owns the victim's pid across dump/restore cycles (the pid stays the same, the
// process behind it changes): kills and reaps whatever is there on the way out.
class VictimPid {
 public:
  explicit VictimPid(pid_t pid) : pid_(pid) {}
  ~VictimPid() {
    if (pid_ > 0) victims::kill_child(pid_);
  }
  VictimPid(const VictimPid&) = delete;
  VictimPid& operator=(const VictimPid&) = delete;
  pid_t get() const { return pid_; }
  void release() { pid_ = -1; }

 private:
  pid_t pid_;
};

// The victim setup hook is process-global; this scopes it to one trial.
class VictimSetupScope {
 public:
  explicit VictimSetupScope(std::function<void()> setup) { victims::set_victim_setup(std::move(setup)); }
  ~VictimSetupScope() { victims::set_victim_setup(nullptr); }
  VictimSetupScope(const VictimSetupScope&) = delete;
  VictimSetupScope& operator=(const VictimSetupScope&) = delete;
};

// A failing trial keeps the image it dumped last in images/ of its directory, where
// `flakelab show` and `flakelab restore` read it.
TrialResult fail_keeping_images(const TrialContext& ctx, const std::optional<engine::Image>& image, std::string why) {
  if (image && !ctx.temp_dir.empty()) {
    try {
      engine::write_image_dir(*image, ctx.temp_dir + "/images");
    } catch (const std::exception& e) {
      why += fmt::format(" (its images could not be kept: {})", e.what());
    }
  }
  return TrialResult::fail(std::move(why));
}

// A restored process inherits the restorer's affinity (affinity is not part of the
// image); put every thread back on the victim's PU.
void repin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  for (pid_t tid : victims::thread_ids(pid))
    if (sched_setaffinity(tid, sizeof(set), &set) != 0 && errno != ESRCH)
      throw std::runtime_error(fmt::format("sched_setaffinity tid {} to CPU {}: {}", tid, cpu, strerror(errno)));
}

// The victims share the trial's session: CRIU needs --shell-job to dump and restore such
// a tree; flakelab's engine needs no flag for it.
std::vector<std::string> shell_job(const CheckpointEngine& engine) {
  if (engine.is_flakelab()) return {};
  return {"--shell-job"};
}

// Dumps our child `pid` with a CLI engine (which kills it) and reaps its tree (ours as
// the subreaper), so that every pid is free for the restore. Throws EngineFailure.
void cli_dump(CheckpointEngine& engine, pid_t pid, const std::string& dir) {
  const std::vector<pid_t> tree = process_tree(pid);
  engine.dump({.pid = pid, .dir = dir, .leave_running = false, .options = shell_job(engine)});
  if (!wait_tree_gone(tree, std::chrono::seconds(10)))
    throw EngineFailure(fmt::format("dump: the tree of pid {} still runs 10 s after {} dumped it", pid, engine.describe()));
}

class CrScenario : public Scenario, public FreshVictimSource {
 public:
  explicit CrScenario(const CrVictim& victim) : victim_(victim) {}

  pid_t start_own_victim(const TrialContext& ctx, const std::string& dir) override { return victim_.start(ctx, dir); }

  std::string name() const override { return "cr/" + victim_.name; }
  std::string description() const override {
    return "dump, kill and restore a victim, then it checks itself: " + victim_.description;
  }
  std::vector<std::string> jitter_points() const override { return {"before_dump", "between_dump_and_restore", "before_check"}; }

  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> all = {
        ParamSpec::integer("cycles", 1, 1, 100, "dump/restore cycles before the victim checks itself (1-100)"),
        ParamSpec::choice("images", "memory", {"memory", "dir"},
                          "keep images in memory, or write and read them back in a directory (engine=cli: always "
                          "a directory)"),
    };
    all.insert(all.end(), victim_.params.begin(), victim_.params.end());
    const std::vector<ParamSpec> engine = engine_params();
    all.insert(all.end(), engine.begin(), engine.end());
    return all;
  }

  TrialResult run(TrialContext& ctx) override {
    int cycles = std::stoi(ctx.param("cycles"));
    if (cycles < 1 || cycles > 100) return TrialResult::error(fmt::format("cycles={} is outside 1-100", cycles));
    const bool via_dir = ctx.param_is("images", "dir");
    base::TempDir scratch(ctx.temp_dir, "flakelab-cr-");
    const bool external = uses_engine_cli(ctx);
    auto setup = [&ctx, external] {
      // A CLI engine's restored victim is the CLI's child until the CLI exits, and the
      // parent-death signal is part of the image: it would die with the CLI.
      if (external) prctl(PR_SET_PDEATHSIG, 0);
      ctx.bind_self(Role::kVictim);
    };
    VictimSetupScope setup_scope(setup);
    std::unique_ptr<VictimPid> victim;
    try {
      // The victim gets a directory of its own (some check that it stays empty).
      const std::string victim_dir = scratch.path() + "/victim";
      if (mkdir(victim_dir.c_str(), 0700) != 0)
        return TrialResult::error(fmt::format("mkdir {}: {}", victim_dir, strerror(errno)));
      // An external engine gets a victim exec'd in the trial's namespaces (fresh_victim.h).
      victim = std::make_unique<VictimPid>(external ? start_fresh_victim(ctx, name(), victim_dir, setup)
                                                    : victim_.start(ctx, victim_dir));
    } catch (const std::exception& e) {
      return TrialResult::error(fmt::format("{}: {}", name(), e.what()));
    }
    const pid_t pid = victim->get();
    ctx.record_binding(Role::kVictim, pid);

    std::optional<engine::Image> image;  // the last dump, kept with a failing trial
    auto fail = [&](std::string why) { return fail_keeping_images(ctx, image, std::move(why)); };
    std::unique_ptr<CheckpointEngine> cli;
    if (external) cli = make_engine(ctx);
    for (int cycle = 1; cycle <= cycles; ++cycle) {
      if (cli) {
        // An external engine always goes through an image directory.
        try {
          ctx.jitter_point("before_dump");
          const std::string dir = fmt::format("{}/images-{}", scratch.path(), cycle);
          cli_dump(*cli, pid, dir);
          ctx.jitter_point("between_dump_and_restore");
          pid_t restored = cli->restore({.dir = dir, .options = shell_job(*cli), .unix_gc_wait = std::nullopt});
          if (restored != pid)
            return TrialResult::fail(fmt::format("cycle {}: restored pid {} instead of {}", cycle, restored, pid));
        } catch (const EngineFailure& e) {
          return TrialResult::fail(fmt::format("cycle {} {}", cycle, e.what()));
        }
        continue;
      }
      std::string step = "dump";
      try {
        ctx.jitter_point("before_dump");
        image = engine::dump_process(pid, {.log = ctx.engine_log()});
        if (via_dir) {
          step = "write/read images";
          const std::string dir = scratch.path() + "/images";
          engine::write_image_dir(*image, dir);
          image = engine::read_image_dir(dir);
        }
        ctx.jitter_point("between_dump_and_restore");
        step = "restore";
        pid_t restored = engine::restore_process(*image, {.log = ctx.engine_log()});
        if (restored != pid) return fail(fmt::format("cycle {}: restored pid {} instead of {}", cycle, restored, pid));
      } catch (const engine::EngineError& e) {
        return fail(fmt::format("cycle {} {}: {}", cycle, step, e.what()));
      }
    }
    if (auto cpu = ctx.cpu_of(Role::kVictim)) repin(pid, *cpu);
    // The victims wait with `while (!checked) pause();`: a signal that lands before
    // a restored thread re-enters pause() would be lost (as it would be before the
    // dump, between the check and the call). Signal once every thread sleeps.
    if (!victims::wait_all_sleeping(pid))
      return fail(fmt::format("restored victim pid {}: not every thread went back to sleep within 5 s", pid));

    ctx.jitter_point("before_check");
    if (victim_.poke) victim_.poke(pid);
    if (kill(pid, SIGUSR1) != 0)
      return fail(fmt::format("restored victim pid {} is gone: {}", pid, strerror(errno)));
    int status = victims::wait_exit(pid, 10000);
    victim->release();
    if (status == -1) return fail(fmt::format("restored victim pid {} did not finish its check within 10 s", pid));
    if (WIFSIGNALED(status))
      return fail(fmt::format("restored victim pid {} was killed by signal {} ({})", pid, WTERMSIG(status),
                              sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?"));
    if (WEXITSTATUS(status) != 0)
      return fail(fmt::format("restored victim found damage after {} cycle(s): {} (status 0x{:x})", cycles,
                              cr::describe_damage(victim_, WEXITSTATUS(status)), WEXITSTATUS(status)));
    return TrialResult::pass();
  }

 private:
  const CrVictim& victim_;
};

}  // namespace

std::unique_ptr<Scenario> make_cr_scenario(const std::string& victim_name) {
  for (const CrVictim& v : cr::cr_victims())
    if (v.name == victim_name) return std::make_unique<CrScenario>(v);
  throw std::logic_error("no engine victim named " + victim_name);
}

std::unique_ptr<Scenario> make_cr_memory() { return make_cr_scenario("memory"); }
std::unique_ptr<Scenario> make_cr_threads() { return make_cr_scenario("threads"); }
std::unique_ptr<Scenario> make_cr_files() { return make_cr_scenario("files"); }
std::unique_ptr<Scenario> make_cr_pipes() { return make_cr_scenario("pipes"); }
std::unique_ptr<Scenario> make_cr_signals() { return make_cr_scenario("signals"); }
std::unique_ptr<Scenario> make_cr_attrs() { return make_cr_scenario("attrs"); }
std::unique_ptr<Scenario> make_cr_anon_fds() { return make_cr_scenario("anon-fds"); }
std::unique_ptr<Scenario> make_cr_inet_sockets() { return make_cr_scenario("inet-sockets"); }
std::unique_ptr<Scenario> make_cr_netlink_sockets() { return make_cr_scenario("netlink-sockets"); }
std::unique_ptr<Scenario> make_cr_unlinked() { return make_cr_scenario("unlinked"); }
std::unique_ptr<Scenario> make_cr_fifos() { return make_cr_scenario("fifos"); }
std::unique_ptr<Scenario> make_cr_shmem() { return make_cr_scenario("shmem"); }
std::unique_ptr<Scenario> make_cr_syscalls() { return make_cr_scenario("syscalls"); }
std::unique_ptr<Scenario> make_cr_tree() { return make_cr_scenario("tree"); }
std::unique_ptr<Scenario> make_cr_sessions() { return make_cr_scenario("sessions"); }
std::unique_ptr<Scenario> make_cr_shared_files() { return make_cr_scenario("shared-files"); }
std::unique_ptr<Scenario> make_cr_shared_offset() { return make_cr_scenario("shared-offset"); }
std::unique_ptr<Scenario> make_cr_zombies() { return make_cr_scenario("zombies"); }

}  // namespace flakelab::scenarios
