// compel/stack: the parasite's RPC commands must leave its own guard zone and the
// victim's red zone untouched.
//
// check=legacy reproduces CRIU's old, wrong check: compare the memory right after
// the parasite mapping before and after the RPC. With adjacent_writer=on that memory
// is a page the victim shares with a separate writer process (pinned on its own),
// which writes it every writer_period_us: the legacy check then fails at a rate set
// by the RPC window and the writer's period, with "Saved data unexpectedly modified",
// and the injector gives up on the parasite, whose daemon logs "Trimmed message
// received" as in the original flake. The fixed check (check=fixed) looks only at the
// guard zone inside the parasite's mapping and never fails.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite.h"
#include "flakelab/compel/seized_process.h"
#include "victim_process.h"

namespace flakelab::scenarios {
namespace {

using namespace compel_support;
namespace compel = flakelab::compel;

constexpr uint64_t kAdjacentPage = 0x5a5a00000000ULL;  // far from anything the loader picks
constexpr size_t kCompared = 256;                      // bytes compared after the mapping
constexpr size_t kRedZone = 128;

long parse_long(const std::string& text, const char* what) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end || v < 0) throw std::invalid_argument(fmt::format("{}={} is not a non-negative integer", what, text));
  return v;
}

class StackScenario : public Scenario {
 public:
  std::string name() const override { return "compel/stack"; }
  std::string description() const override {
    return "parasite RPC must not touch its guard zone or the victim's red zone; check=legacy adjacent_writer=on "
           "reproduces CRIU's 'Saved data unexpectedly modified' flake";
  }
  std::vector<ParamSpec> params() const override {
    return {ParamSpec::choice("check", "fixed", {"fixed", "legacy"},
                              "fixed: guard zone inside the mapping; legacy: memory after the mapping (CRIU's old check)"),
            ParamSpec::choice("adjacent_writer", "off", {"off", "on"},
                              "a process pinned as 'writer' keeps writing the page right after the parasite"),
            ParamSpec::integer("writer_period_us", 1000, 0, 10'000'000, "microseconds between the writer's writes"),
            ParamSpec::integer("rpc_rounds", 4, 0, 1'000'000, "rounds of sigactions/sigaltstack/itimers commands between the two looks")};
  }

  std::vector<std::string> jitter_points() const override {
    return {"before_seize", "between_rpcs", "before_check"};
  }

  TrialResult run(TrialContext& ctx) override {
    const bool legacy = ctx.param_is("check", "legacy");
    const bool writer_on = ctx.param_is("adjacent_writer", "on");
    const long period_us = parse_long(ctx.param("writer_period_us"), "writer_period_us");
    const long rounds = parse_long(ctx.param("rpc_rounds"), "rpc_rounds");

    PipePair ready = PipePair::make();
    PipePair hold = PipePair::make();
    VictimProcess victim(ctx, Role::kVictim, [&] {
      void* page = ::mmap(reinterpret_cast<void*>(kAdjacentPage), 4096, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (page == MAP_FAILED) ::_exit(2);
      std::memset(page, 0x3c, 4096);
      pid_t writer = 0;
      if (writer_on) {
        const pid_t victim_pid = ::getpid();
        writer = ::fork();
        if (writer == 0) {
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (::getppid() != victim_pid) ::_exit(0);  // the victim died before prctl
          ctx.bind_self(Role::kWriter);
          auto* words = static_cast<std::atomic<uint64_t>*>(page);
          timespec ts{period_us / 1000000, (period_us % 1000000) * 1000};
          // A seeded random phase, so the writes are not locked to the trial's start.
          long phase_us = period_us ? static_cast<long>(ctx.seed % static_cast<uint64_t>(period_us)) : 0;
          timespec phase{phase_us / 1000000, (phase_us % 1000000) * 1000};
          ::nanosleep(&phase, nullptr);
          for (uint64_t i = 1;; ++i) {
            words[i % (kCompared / sizeof(uint64_t))].store(i, std::memory_order_relaxed);
            if (period_us) ::nanosleep(&ts, nullptr);
            if ((i & 63) == 0 && ::getppid() != victim_pid) ::_exit(0);
          }
        }
      }
      write_quiet(ready.write.get(), &writer, sizeof(writer));
      char c;
      while (::read(hold.read.get(), &c, 1) < 0) {
      }
      ::_exit(0);
    });
    ctx.record_binding(Role::kVictim, victim.pid());
    pid_t writer = 0;
    if (!read_exact(ready.read.get(), &writer, sizeof(writer)))
      return TrialResult::error(fmt::format("victim could not map its page at {:#x}", kAdjacentPage));
    // The writer is the victim's child; make sure it goes with the trial even when
    // no pid namespace tears everything down (e.g. tests running the scenario directly).
    struct KillWriter {
      pid_t pid;
      ~KillWriter() {
        if (pid > 0) ::kill(pid, SIGKILL);
      }
    } kill_writer{writer};
    if (writer > 0) ctx.record_binding(Role::kWriter, writer);
    const pid_t pid = victim.pid();

    try {
      ctx.jitter_point("before_seize");
      compel::SeizedProcess process(pid);
      const uint64_t rsp = process.leader().get_regs().rsp;
      auto red_zone_before = read_remote(pid, rsp - kRedZone, kRedZone);
      compel::InfectOptions options;
      options.end_address = compel::RemoteAddr(kAdjacentPage);  // the parasite mapping ends where the shared page starts
      compel::Parasite parasite(process, compel::default_parasite_blob(), options);
      const uint64_t after_mapping = parasite.layout().end().as_int();
      auto saved = read_remote(pid, after_mapping, kCompared);

      for (long i = 0; i < rounds; ++i) {
        if (i > 0) ctx.jitter_point("between_rpcs");
        parasite.get_sigactions();
        parasite.get_sigaltstack();
        parasite.get_itimers();
      }

      ctx.jitter_point("before_check");
      if (legacy) {
        auto now = read_remote(pid, after_mapping, kCompared);
        if (saved && now && *saved != *now) {
          size_t off = 0;
          while ((*saved)[off] == (*now)[off]) ++off;
          std::string message = fmt::format("Saved data unexpectedly modified at {:#x} (offset {} past the parasite stack)",
                                            after_mapping + off, off);
          // Like the old compel test: give up on the parasite mid-session.
          std::string log = parasite.abandon();
          if (!log.empty()) message += "; parasite: " + log;
          return TrialResult::fail(message);
        }
      } else if (auto off = parasite.guard_zone_damage()) {
        parasite.abandon();
        return TrialResult::fail(fmt::format("Saved data unexpectedly modified: parasite guard zone offset {}", *off));
      }
      parasite.cure();
      auto red_zone_after = read_remote(pid, rsp - kRedZone, kRedZone);
      if (!red_zone_before || !red_zone_after || *red_zone_before != *red_zone_after)
        return TrialResult::fail("victim red zone below its stack pointer was modified by the parasite");
    } catch (const compel::CompelError& e) {
      return TrialResult::fail(e.what());
    }
    if (!victim.alive()) return TrialResult::fail("victim died after cure");
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_compel_stack() { return std::make_unique<StackScenario>(); }

}  // namespace flakelab::scenarios
