#include "flakelab/harness/params.h"

#include <gtest/gtest.h>

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

class FakeScenario : public scenarios::Scenario {
 public:
  std::string name() const override { return "test/fake"; }
  std::string description() const override { return "fake"; }
  std::vector<scenarios::ParamSpec> params() const override {
    return {{"check", "fixed", "which check", {"fixed", "legacy"}}, {"n", "3", "count", {}}};
  }
  scenarios::TrialResult run(scenarios::TrialContext&) override {
    return scenarios::TrialResult::pass();
  }
};

std::string usage_error_of(const std::vector<std::string>& assignments) {
  FakeScenario scenario;
  try {
    resolve_params(scenario, assignments);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Params, DefaultsApplyAndGivenValuesOverride) {
  FakeScenario scenario;
  auto params = resolve_params(scenario, {});
  EXPECT_EQ(canonical_params(params), "check=fixed,n=3");
  params = resolve_params(scenario, {"n=10", "check=legacy"});
  EXPECT_EQ(canonical_params(params), "check=legacy,n=10");
  params = resolve_params(scenario, {"n=a=b"});   // the value is everything after the first '='
  EXPECT_EQ(params.at("n"), "a=b");
  params = resolve_params(scenario, {"n="});
  EXPECT_EQ(params.at("n"), "");
}

TEST(Params, RejectsWhatTheScenarioDoesNotDeclare) {
  EXPECT_EQ(usage_error_of({"size=1"}),
            "scenario test/fake has no parameter 'size' (it has: check, n)");
  EXPECT_EQ(usage_error_of({"check=maybe"}),
            "--param check=maybe: scenario test/fake accepts check = fixed | legacy");
  EXPECT_EQ(usage_error_of({"n=1", "n=2"}), "--param n is given more than once");
  EXPECT_EQ(usage_error_of({"n"}), "bad --param 'n': expected NAME=VALUE");
  EXPECT_EQ(usage_error_of({"=3"}), "bad --param '=3': expected NAME=VALUE");
}

TEST(Params, CanonicalFormOfNothingIsEmpty) { EXPECT_EQ(canonical_params({}), ""); }

TEST(Params, ScenarioListShowsEveryScenarioAndParam) {
  const std::string text = format_scenario_list();
  for (const auto& scenario : scenarios::registry()) {
    EXPECT_NE(text.find(scenario->name() + "\n"), std::string::npos) << scenario->name();
    EXPECT_NE(text.find(scenario->description()), std::string::npos) << scenario->name();
    for (const auto& spec : scenario->params()) {
      EXPECT_NE(text.find("--param " + spec.name + "=" + spec.default_value), std::string::npos)
          << spec.name;
      EXPECT_NE(text.find(spec.help), std::string::npos) << spec.name;
    }
  }
  EXPECT_NE(text.find("(fail|error|throw|exit|segv|hang)"), std::string::npos) << text;
}

}  // namespace
}  // namespace flakelab::harness
