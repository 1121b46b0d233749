// selftest/coin: a trial that fails with probability p, decided from the trial seed
// alone, so the same run seed and trial index always give the same verdict. It checks
// the harness's bookkeeping: failure rates, intervals, reproducibility.
#include <fmt/core.h>

#include <charconv>
#include <cstdint>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Coin final : public Scenario {
 public:
  std::string name() const override { return "selftest/coin"; }
  std::string description() const override {
    return "fails with probability p, decided from the trial seed (harness self-test)";
  }
  std::vector<ParamSpec> params() const override {
    return {ParamSpec::probability("p", "0.05", "probability that a trial fails, 0..1")};
  }
  TrialResult run(TrialContext& ctx) override {
    const std::string& text = ctx.param("p");
    double p = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
    if (ec != std::errc() || end != text.data() + text.size() || !(p >= 0 && p <= 1)) {
      return TrialResult::error(fmt::format("coin: p={} is not a probability in [0, 1]", text));
    }
    // 53 random bits from the seed -> u uniform in [0, 1).
    const double u = static_cast<double>(splitmix64(ctx.seed ^ 0xc0146c0146c01460ULL) >> 11) *
                     0x1.0p-53;
    if (u < p) return TrialResult::fail(fmt::format("coin: tails (u={:.4f} < p={})", u, text));
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_selftest_coin() { return std::make_unique<Coin>(); }

}  // namespace flakelab::scenarios
