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
    return {scenarios::ParamSpec::choice("check", "fixed", {"fixed", "legacy"}, "which check"),
            scenarios::ParamSpec::string("n", "3", "count")};
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

TEST(Params, EachTypeRefusesWhatItCannotMean) {
  using scenarios::ParamSpec;
  const ParamSpec cycles = ParamSpec::integer("cycles", 1, 1, 100, "");
  for (const char* ok : {"1", "100", "42"}) EXPECT_EQ(cycles.refuse(ok), std::nullopt) << ok;
  for (const char* bad : {"abc", "0", "101", "", "5x", "+5", "1.5", "-1"})
    EXPECT_EQ(cycles.refuse(bad), "an integer from 1 to 100") << bad;
  const ParamSpec p = ParamSpec::probability("p", "0.05", "");
  for (const char* ok : {"0", "1", "0.5", "1e-3"}) EXPECT_EQ(p.refuse(ok), std::nullopt) << ok;
  for (const char* bad : {"2", "nan", "inf", "-0.1", "", "0.5x", "abc"})
    EXPECT_EQ(p.refuse(bad), "a probability from 0 to 1") << bad;
  const ParamSpec wait = ParamSpec::duration("wait", "1s", "");
  for (const char* ok : {"0", "50ms", "2.5s"}) EXPECT_EQ(wait.refuse(ok), std::nullopt) << ok;
  for (const char* bad : {"5", "soon", "-1s"}) EXPECT_NE(wait.refuse(bad), std::nullopt) << bad;
  EXPECT_EQ(ParamSpec::choice("c", "a", {"a", "b"}, "").refuse("c"), "a | b");
  EXPECT_EQ(ParamSpec::string("s", "", "").refuse("anything at all"), std::nullopt);
  EXPECT_EQ(cycles.type_text(), "integer 1..100");
  EXPECT_EQ(p.type_text(), "probability 0..1");
  EXPECT_EQ(wait.type_text(), "duration");
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
