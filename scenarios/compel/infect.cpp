// compel/infect: a victim that echoes numbers; the parasite runs an increment and a
// decrement command whose results the victim writes to its own stdout. Echo must
// work before and after infection.
#include <unistd.h>

#include <random>

#include <fmt/format.h>

#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite.h"
#include "flakelab/compel/seized_process.h"
#include "infect_parasite.h"
#include "victim_process.h"

FLK_DECLARE_PARASITE_BLOB(compel_infect_parasite);

namespace flakelab::scenarios {
namespace {

using namespace compel_support;
using flakelab::compel::CompelError;
using flakelab::compel::Parasite;
using flakelab::compel::SeizedProcess;

class InfectScenario : public Scenario {
 public:
  std::string name() const override { return "compel/infect"; }
  std::string description() const override {
    return "infect an echo victim; parasite INC/DEC commands write through the victim's stdout; echo before and after";
  }

  std::vector<std::string> jitter_points() const override {
    return {"before_seize", "between_rpcs", "before_cure"};
  }

  TrialResult run(TrialContext& ctx) override {
    PipePair in = PipePair::make();   // injector -> victim stdin
    PipePair out = PipePair::make();  // victim stdout -> injector
    VictimProcess victim(ctx, Role::kVictim, [&] {
      if (::dup2(in.read.get(), 0) < 0 || ::dup2(out.write.get(), 1) < 0) ::_exit(2);
      in.write.reset();
      out.read.reset();
      for (;;) {
        uint32_t v;
        ssize_t n = ::read(0, &v, sizeof(v));
        if (n != sizeof(v)) ::_exit(n == 0 ? 0 : 3);
        write_quiet(1, &v, sizeof(v));
      }
    });
    in.read.reset();
    out.write.reset();
    ctx.record_binding(Role::kVictim, victim.pid());

    std::mt19937 rng(static_cast<uint32_t>(ctx.seed));
    auto echo = [&](const char* when) -> std::optional<std::string> {
      uint32_t sent = rng(), got = 0;
      write_all(in.write.get(), &sent, sizeof(sent));
      if (!read_exact(out.read.get(), &got, sizeof(got)))
        return fmt::format("victim did not echo {} infection", when);
      if (got != sent) return fmt::format("victim echoed {} instead of {} {} infection", got, sent, when);
      return std::nullopt;
    };
    if (auto err = echo("before")) return TrialResult::fail(*err);

    try {
      ctx.jitter_point("before_seize");
      SeizedProcess process(victim.pid());
      Parasite parasite(process, FLK_PARASITE_BLOB(compel_infect_parasite));
      for (uint32_t cmd : {FLK_INFECT_CMD_INC, FLK_INFECT_CMD_DEC}) {
        if (cmd != FLK_INFECT_CMD_INC) ctx.jitter_point("between_rpcs");
        const uint32_t n = rng();
        const uint32_t want = cmd == FLK_INFECT_CMD_INC ? n + 1 : n - 1;
        const char* what = cmd == FLK_INFECT_CMD_INC ? "increment" : "decrement";
        uint32_t replied = parasite.user_command(cmd, n);
        uint32_t written = 0;
        if (!read_exact(out.read.get(), &written, sizeof(written)))
          return TrialResult::fail(fmt::format("parasite {} of {}: nothing written on the victim's stdout", what, n));
        if (written != want || replied != want)
          return TrialResult::fail(fmt::format("parasite {} of {}: victim wrote {}, parasite replied {}, expected {}",
                                               what, n, written, replied, want));
      }
      if (auto off = parasite.guard_zone_damage())
        return TrialResult::fail(fmt::format("Saved data unexpectedly modified: parasite guard zone offset {}", *off));
      ctx.jitter_point("before_cure");
      parasite.cure();
    } catch (const CompelError& e) {
      return TrialResult::fail(e.what());
    }
    if (auto err = echo("after")) return TrialResult::fail(*err);
    if (!victim.alive()) return TrialResult::fail("victim exited after cure");
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_compel_infect() { return std::make_unique<InfectScenario>(); }

}  // namespace flakelab::scenarios
