// The zdtm scenario with the project's own zdtm-protocol programs (CI has no CRIU):
// through the library engine and through flakelab's own CLI as the external engine, a
// program that keeps its state passes, one that notices it was restored fails with its
// out file's words, one whose .desc excludes the host flavor is skipped with the reason.
// With FLAKELAB_CRIU naming a criu binary the same runs through real CRIU.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/scenario.h"
#include "flakelab/scenarios/zdtm_desc.h"

using namespace flakelab::scenarios;

namespace {

const std::string kPrograms = ZDTM_PROGRAMS_DIR;

TrialContext context(const std::map<std::string, std::string>& overrides) {
  Scenario* zdtm = find_scenario("zdtm");
  TrialContext ctx;
  for (const ParamSpec& p : zdtm->params()) ctx.params[p.name] = p.default_value;
  for (const auto& [k, v] : overrides) ctx.params[k] = v;
  complete_engine_params(ctx.params);
  return ctx;
}

TrialResult run(const std::map<std::string, std::string>& overrides) {
  TrialContext ctx = context(overrides);
  return find_scenario("zdtm")->run(ctx);
}

std::map<std::string, std::string> with_cli(std::map<std::string, std::string> params, const std::string& cli) {
  params["engine"] = "cli";
  params["engine_cli"] = cli;
  return params;
}

TEST(Zdtm, KeepsStatePassesThroughTheLibraryEngine) {
  TrialResult r = run({{"test", kPrograms + "/zdtm_keeps_state"}, {"iters", "2"}});
  EXPECT_EQ(r.verdict, Verdict::kPass) << r.message;
}

TEST(Zdtm, KeepsStatePassesThroughFlakelabsCliAsExternalEngine) {
  TrialResult r = run(
      with_cli({{"test", kPrograms + "/zdtm_keeps_state"}, {"iters", "2"}, {"restore_delay_us", "1000"}}, FLAKELAB_CLI));
  EXPECT_EQ(r.verdict, Verdict::kPass) << r.message;
}

TEST(Zdtm, ARestoreTheProgramNoticesFailsWithItsOutFileWords) {
  for (const auto& params : {std::map<std::string, std::string>{{"test", kPrograms + "/zdtm_not_restored"}},
                             with_cli({{"test", kPrograms + "/zdtm_not_restored"}}, FLAKELAB_CLI)}) {
    TrialResult r = run(params);
    EXPECT_EQ(r.verdict, Verdict::kFail);
    EXPECT_NE(r.message.find("zdtm_not_restored did not PASS"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("FAIL: start time changed"), std::string::npos) << r.message;
  }
}

TEST(Zdtm, ADescWithoutTheHostFlavorIsASkipWithTheReason) {
  TrialContext ctx = context({{"test", kPrograms + "/zdtm_ns_only"}});
  auto reason = find_scenario("zdtm")->skip_reason(ctx.params);
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("only in the flavors 'ns uns'"), std::string::npos) << *reason;
  EXPECT_FALSE(find_scenario("zdtm")->skip_reason(
      context({{"test", kPrograms + "/zdtm_ns_only"}, {"flavor_check", "ignore"}}).params));
  EXPECT_FALSE(find_scenario("zdtm")->skip_reason(context({{"test", kPrograms + "/zdtm_keeps_state"}}).params));
  EXPECT_THROW(find_scenario("zdtm")->skip_reason(context({{"test", kPrograms + "/missing"}}).params),
               std::invalid_argument);
  EXPECT_THROW(find_scenario("zdtm")->skip_reason(context({}).params), std::invalid_argument);
}

TEST(Zdtm, DescIsReadAsZdtmPyReadsIt) {
  flakelab::base::TempDir dir("", "zdtm-desc-");
  std::ofstream(dir.path() + "/t.desc") << "# 'flavor': 'h' in a comment does not count\n"
                                           "{'flavor': 'h ns', \"flags\": \"suid crfail\", 'opts': '--ext-unix-sk',\n"
                                           " 'feature' : 'mnt_id', 'timeout': 60, 'deps': ['/bin/sh']}\n";
  const zdtm::ZdtmDesc desc = zdtm::read_zdtm_desc(dir.path() + "/t");
  EXPECT_EQ(desc.flavors, (std::vector<std::string>{"h", "ns"}));
  EXPECT_TRUE(desc.has_flag("crfail"));
  EXPECT_FALSE(desc.has_flag("noauto"));
  EXPECT_EQ(desc.opts, (std::vector<std::string>{"--ext-unix-sk"}));
  EXPECT_EQ(desc.features, (std::vector<std::string>{"mnt_id"}));
  EXPECT_EQ(desc.timeout_s, 60);
  const zdtm::ZdtmDesc none = zdtm::read_zdtm_desc(dir.path() + "/no-such-test");
  EXPECT_TRUE(none.has_flavor("h"));
  EXPECT_EQ(none.timeout_s, 30);
}

// An engine CLI that fails: the trial fails with the engine's error line first.
TEST(Zdtm, AFailingEngineCliFailsTheTrialWithItsErrorLine) {
  flakelab::base::TempDir dir("", "zdtm-cli-");
  const std::string cli = dir.path() + "/fake-criu";
  std::ofstream(cli) << "#!/bin/sh\n"
                        "case \"$1\" in --version) echo 'Version: 0.1-fake';;\n"
                        "dump) echo '(00.001) Error (criu/fake.c:12): cannot dump this' >&2; exit 1;; esac\n";
  chmod(cli.c_str(), 0755);
  TrialContext ctx = context(with_cli({{"test", kPrograms + "/zdtm_keeps_state"}}, cli));
  EXPECT_EQ(ctx.params.at("engine_version"), "Version: 0.1-fake");
  TrialResult r = find_scenario("zdtm")->run(ctx);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.message.rfind("iteration 1 dump: (00.001) Error (criu/fake.c:12): cannot dump this", 0), 0u) << r.message;
  EXPECT_NE(r.message.find("exited with status 1"), std::string::npos) << r.message;
}

TEST(Zdtm, ThroughRealCriuWhenFlakelabCriuNamesIt) {
  const char* criu = std::getenv("FLAKELAB_CRIU");
  if (!criu || !*criu) GTEST_SKIP() << "FLAKELAB_CRIU is not set: no CRIU binary to test with";
  TrialResult pass = run(with_cli({{"test", kPrograms + "/zdtm_keeps_state"}, {"iters", "2"}}, criu));
  EXPECT_EQ(pass.verdict, Verdict::kPass) << pass.message;
  TrialResult fail = run(with_cli({{"test", kPrograms + "/zdtm_not_restored"}}, criu));
  EXPECT_EQ(fail.verdict, Verdict::kFail) << fail.message;
}

}  // namespace
