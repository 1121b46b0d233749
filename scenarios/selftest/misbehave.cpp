// selftest/misbehave: a trial that ends badly in a chosen way, to check how the
// harness classifies and describes each ending. Not part of any campaign.
#include <fmt/core.h>
#include <signal.h>
#include <sys/mman.h>

#include <stdexcept>

#include "flakelab/scenarios/scenario.h"
#include "posix.h"

namespace flakelab::scenarios {
namespace {

// A real memory fault (not raise(): the trial process is the init of its pid
// namespace, and init ignores signals it sends itself). The default action is
// restored first so that sanitizer runtimes do not turn the crash into an exit.
[[noreturn]] void fault() {
  void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) throw selftest::os_error("mmap PROT_NONE page");
  ::signal(SIGSEGV, SIG_DFL);
  *static_cast<volatile char*>(page) = 1;
  ::_exit(99);  // not reached
}

// Ignores the harness's SIGABRT at timeout, so that only the SIGKILL escalation ends it.
[[noreturn]] void hang() {
  sigset_t abort_only;
  sigemptyset(&abort_only);
  sigaddset(&abort_only, SIGABRT);
  ::sigprocmask(SIG_BLOCK, &abort_only, nullptr);
  for (;;) ::pause();
}

class Misbehave final : public Scenario {
 public:
  std::string name() const override { return "selftest/misbehave"; }
  std::string description() const override {
    return "ends a trial badly on purpose (harness self-test of outcome classification)";
  }
  std::vector<ParamSpec> params() const override {
    return {ParamSpec::choice("how", "fail", {"fail", "error", "throw", "exit", "segv", "hang"},
                              "fail: verdict fail; error: verdict error; throw: exception; exit: _exit(7) "
                              "without a result; segv: die from a memory fault; hang: block SIGABRT and sleep "
                              "forever (only SIGKILL ends it)")};
  }
  TrialResult run(TrialContext& ctx) override {
    const std::string& how = ctx.param("how");
    if (how == "fail") return TrialResult::fail("misbehave: failed on purpose");
    if (how == "error") return TrialResult::error("misbehave: error on purpose");
    if (how == "throw") throw std::runtime_error("misbehave: thrown on purpose");
    if (how == "exit") ::_exit(7);
    if (how == "segv") fault();
    if (how == "hang") hang();
    return TrialResult::error(fmt::format("misbehave: unknown how={}", how));
  }
};

}  // namespace

std::unique_ptr<Scenario> make_selftest_misbehave() { return std::make_unique<Misbehave>(); }

}  // namespace flakelab::scenarios
