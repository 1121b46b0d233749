#include <gtest/gtest.h>

#include <algorithm>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios {
namespace {

TEST(Registry, IsSortedByNameAndUnique) {
  const auto& all = registry();
  ASSERT_FALSE(all.empty());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1]->name(), all[i]->name());
}

TEST(Registry, HoldsTheSelftestScenarios) {
  for (const char* name : {"selftest/coin", "selftest/noop", "selftest/misbehave"}) {
    Scenario* scenario = find_scenario(name);
    ASSERT_NE(scenario, nullptr) << name;
    EXPECT_EQ(scenario->name(), name);
    EXPECT_FALSE(scenario->description().empty()) << name;
  }
  EXPECT_EQ(find_scenario("selftest/nope"), nullptr);
  EXPECT_EQ(find_scenario(""), nullptr);
}

TEST(Registry, DefaultsAreAmongTheChoices) {
  for (const auto& scenario : registry()) {
    for (const ParamSpec& spec : scenario->params()) {
      EXPECT_FALSE(spec.help.empty()) << scenario->name() << " " << spec.name;
      if (spec.choices.empty()) continue;
      EXPECT_NE(std::find(spec.choices.begin(), spec.choices.end(), spec.default_value),
                spec.choices.end())
          << scenario->name() << " " << spec.name;
    }
  }
}

TEST(Role, RoundTripsThroughText) {
  for (Role role : {Role::kVictim, Role::kInjector, Role::kWriter}) {
    EXPECT_EQ(role_from_string(to_string(role)), role);
  }
  EXPECT_STREQ(to_string(Role::kVictim), "victim");
  EXPECT_STREQ(to_string(Role::kInjector), "injector");
  EXPECT_STREQ(to_string(Role::kWriter), "writer");
  EXPECT_EQ(role_from_string("boss"), std::nullopt);
  EXPECT_EQ(role_from_string("Victim"), std::nullopt);
  EXPECT_EQ(role_from_string(""), std::nullopt);
}

TEST(TrialContext, ParamLooksUpDeclaredParamsOnly) {
  TrialContext ctx;
  ctx.params = {{"check", "legacy"}, {"n", "3"}};
  EXPECT_EQ(ctx.param("check"), "legacy");
  EXPECT_TRUE(ctx.param_is("check", "legacy"));
  EXPECT_FALSE(ctx.param_is("check", "fixed"));
  EXPECT_THROW(ctx.param("nope"), std::logic_error);
  EXPECT_THROW(ctx.param_is("nope", "x"), std::logic_error);
}

}  // namespace
}  // namespace flakelab::scenarios
