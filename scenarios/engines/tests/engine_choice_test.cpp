// The engine choice of the C/R scenarios: its parameters are checked and completed with
// the CLI's version, and cr/*, scm06, scm_ring and scm_selfloop pass through flakelab's
// own CLI as an external engine (and through CRIU when FLAKELAB_CRIU names it).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <sstream>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/scenario.h"

using namespace flakelab::scenarios;

namespace {

std::map<std::string, std::string> engine_defaults() {
  std::map<std::string, std::string> params;
  for (const ParamSpec& p : engine_params()) params[p.name] = p.default_value;
  return params;
}

TrialResult run(const std::string& scenario, const std::string& cli, std::map<std::string, std::string> overrides = {}) {
  Scenario* s = find_scenario(scenario);
  TrialContext ctx;
  for (const ParamSpec& p : s->params()) ctx.params[p.name] = p.default_value;
  for (const auto& [k, v] : overrides) ctx.params[k] = v;
  ctx.params["engine"] = "cli";
  ctx.params["engine_cli"] = cli;
  complete_engine_params(ctx.params);
  return s->run(ctx);
}

TEST(EngineChoice, CliNeedsAPathAndGetsItsVersion) {
  auto params = engine_defaults();
  EXPECT_NO_THROW(complete_engine_params(params));
  EXPECT_EQ(params.at("engine_version"), "");

  params["engine"] = "cli";
  EXPECT_THROW(complete_engine_params(params), std::invalid_argument);
  params["engine_cli"] = "/no/such/engine";
  EXPECT_THROW(complete_engine_params(params), std::invalid_argument);
  params["engine_cli"] = "sh";  // found in PATH, but `sh --version` is not an engine's answer
  EXPECT_THROW(complete_engine_params(params), std::invalid_argument);

  params["engine_cli"] = FLAKELAB_CLI;
  complete_engine_params(params);
  EXPECT_FALSE(params.at("engine_version").empty());
  EXPECT_EQ(params.at("engine_version").find(','), std::string::npos);
  EXPECT_THROW(complete_engine_params(params), std::invalid_argument) << "engine_version may not be given";

  auto library = engine_defaults();
  library["engine_cli"] = FLAKELAB_CLI;
  EXPECT_THROW(complete_engine_params(library), std::invalid_argument);
}

TEST(EngineChoice, CrScenariosPassThroughFlakelabsCli) {
  for (const std::string name : {"cr/memory", "cr/pipes", "cr/threads", "cr/tree"}) {
    TrialResult r = run(name, FLAKELAB_CLI, {{"cycles", "2"}});
    EXPECT_EQ(r.verdict, Verdict::kPass) << name << ": " << r.message;
  }
}

TEST(EngineChoice, ScmScenariosPassThroughFlakelabsCliWithItsPolicy) {
  for (const std::string name : {"scm06", "scm_ring", "scm_selfloop"}) {
    TrialResult r = run(name, FLAKELAB_CLI);
    EXPECT_EQ(r.verdict, Verdict::kPass) << name << ": " << r.message;
  }
}

// Whether a CLI restore still finds the old names taken depends on how fast the CLI
// starts (a loaded machine lets the collector win), so the test checks what can be
// relied on: the policy reaches flakelab's CLI, and a failure is the bind error.
TEST(EngineChoice, Scm06PassesThePolicyToFlakelabsCli) {
  flakelab::base::TempDir dir("", "engine-choice-");
  const std::string log = dir.path() + "/calls";
  const std::string cli = dir.path() + "/flakelab-logging";
  std::ofstream(cli) << "#!/bin/sh\necho \"$@\" >> '" << log << "'\nexec '" << FLAKELAB_CLI << "' \"$@\"\n";
  chmod(cli.c_str(), 0755);
  TrialResult r = run("scm06", cli, {{"unix_gc_wait", "0"}});
  if (r.verdict != Verdict::kPass) {
    EXPECT_NE(r.message.find("Can't bind"), std::string::npos) << r.message;
  }
  std::ifstream in(log);
  std::stringstream calls;
  calls << in.rdbuf();
  EXPECT_NE(calls.str().find("restore -D "), std::string::npos) << calls.str();
  EXPECT_NE(calls.str().find(" --unix-gc-wait 0us"), std::string::npos) << calls.str();
  EXPECT_EQ(calls.str().find("--shell-job"), std::string::npos) << calls.str();
}

TEST(EngineChoice, CrAndScmThroughRealCriuWhenFlakelabCriuNamesIt) {
  const char* criu = std::getenv("FLAKELAB_CRIU");
  if (!criu || !*criu) GTEST_SKIP() << "FLAKELAB_CRIU is not set: no CRIU binary to test with";
  TrialResult memory = run("cr/memory", criu);
  EXPECT_EQ(memory.verdict, Verdict::kPass) << memory.message;
  TrialResult scm = run("scm06", criu, {{"restore_delay_us", "200000"}});
  EXPECT_EQ(scm.verdict, Verdict::kPass) << scm.message;
}

}  // namespace

// Under the harness a trial has its own mount namespace: CRIU refused victims forked from
// the harness ("Can't lookup mount=..."), and the trial's session leader. With the policy
// on (the default unix_gc_wait), scm06 must pass every trial through CRIU.
TEST(EngineChoice, RealCriuUnderTheHarnessWhenFlakelabCriuNamesIt) {
  const char* criu = std::getenv("FLAKELAB_CRIU");
  if (!criu || !*criu) GTEST_SKIP() << "FLAKELAB_CRIU is not set: no CRIU binary to test with";
  flakelab::base::TempDir dir("", "engine-choice-harness-");
  const std::string out = dir.path() + "/out";
  const std::string command = std::string("'") + FLAKELAB_CLI + "' run scm06 cr/memory -n 10 --keep-artifacts never --db '" +
                              dir.path() + "/db' --engine-cli '" + criu + "' > '" + out + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << text.str();
  EXPECT_EQ(text.str().find("Can't lookup mount"), std::string::npos) << text.str();
}
