// End to end: ci/nightly.sh at a tiny size, `flakelab gate` on seeded regressions,
// `flakelab bisect-verdict` on selftest/coin, --shard errors, and the CI workflow file
// through @action-validator/cli.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "flakelab/base/build_flavor.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/results/shard_sets.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Ran {
  int code = -1;
  std::string out;  // stdout and stderr
};

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out.append("'\\''");
    else out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

Ran shell(const std::string& command) {
  Ran ran;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return ran;
  char buffer[4096];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) ran.out.append(buffer, got);
  const int status = ::pclose(pipe);
  ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ran;
}

Ran flakelab(const std::vector<std::string>& args) {
  std::string command = quote(FLAKELAB_BIN);
  for (const std::string& arg : args) {
    command.push_back(' ');  // not `" " + quote(arg)`: GCC 12 warns falsely (-Wrestrict) on it
    command.append(quote(arg));
  }
  return shell(command);
}

class Nightly : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }
  // A campaign of one selftest/coin cell at probability p, expected flaky (or to pass).
  std::string coin_campaign(const std::string& name, const std::string& p, int trials, const char* expect = "flaky") {
    return write(name, "keep_artifacts = \"never\"\n[[run]]\nscenario = \"selftest/coin\"\nparams = { p = " + p +
                           " }\ntrials = " + std::to_string(trials) + "\nexpect = \"" + expect + "\"\n");
  }
  Ran run_campaign(const std::string& campaign, const std::string& db, const std::string& seed,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"run", "--campaign", campaign, "--db", db, "--seed", seed};
    args.insert(args.end(), extra.begin(), extra.end());
    return flakelab(args);
  }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-nightly-"};  // removed with the fixture
  const fs::path dir_ = temp_.path();
};

std::string describe(const Ran& ran) { return "exit " + std::to_string(ran.code) + "\n" + ran.out; }

using TrialKey = std::tuple<std::string, std::string, std::string, int64_t>;  // scenario, placement, params, index

std::multiset<TrialKey> trial_keys(const std::string& db) {
  results::Store store(db);
  std::multiset<TrialKey> out;
  for (int64_t id : store.run_ids()) {
    const results::RunRecord run = store.run(id);
    for (const results::TrialRecord& t : store.trials(id)) {
      out.emplace(run.info.scenario, run.info.placement, run.info.params, t.index);
    }
  }
  return out;
}

// The nightly campaign's entries the ASan build runs: there a cell's trial host (a fork of
// an instrumented process with new namespaces) costs ~0.5 s, and the whole campaign's 130
// cells, sharded and then unsharded, took 3-5 minutes even at one trial per cell. Both
// reproductions (expected flaky) and a must-pass cell of each kind stay.
constexpr const char* kSanitizerNightly = R"(placements = "all"
timeout = 10
keep_artifacts = "failed"
[[run]]
scenario = "compel/infect"
trials = 10
[[run]]
scenario = "compel/stack"
params = { check = "legacy", adjacent_writer = "on" }
trials = 10
expect = "flaky"
[[run]]
scenario = "cr/memory"
trials = 10
[[run]]
scenario = "scm06"
params = { unix_gc_wait = "0", restore_delay_us = [0, 1000] }
trials = 10
expect = "flaky"
[[run]]
scenario = "scm06"
trials = 10
)";

// The acceptance run: the whole nightly campaign (a part of it under ASan) at 2 trials per
// cell over 3 local shards, merged; the merged database holds exactly the trials of an
// unsharded run.
TEST_F(Nightly, TinyNightlyOverThreeShardsAddsUpToAnUnshardedRun) {
  const std::string out = file("nightly");
  const std::string campaign = base::kAddressSanitizerBuild ? write("sanitizer-nightly.toml", kSanitizerNightly)
                                                            : std::string(FLAKELAB_SOURCE_DIR "/ci/nightly.toml");
  const Ran nightly = shell("FLAKELAB_BIN=" + quote(FLAKELAB_BIN) + " bash " + quote(FLAKELAB_SOURCE_DIR "/ci/nightly.sh") +
                            " --campaign " + quote(campaign) +
                            " --shards 3 --trials 2 --seed 4242 --group local --out " + quote(out));
  // 0 or 1 is the gate's verdict on this machine's trials; 2/3 would be a broken pipeline.
  ASSERT_TRUE(nightly.code == 0 || nightly.code == 1) << describe(nightly);
  EXPECT_THAT(nightly.out, HasSubstr("3 of 3 shards"));
  for (const char* report : {"nightly.html", "nightly.junit.xml", "summary.md", "gate.txt"}) {
    EXPECT_GT(fs::file_size(fs::path(out) / report), 0u) << report;
  }
  std::ifstream summary(fs::path(out) / "summary.md");
  const std::string md((std::istreambuf_iterator<char>(summary)), std::istreambuf_iterator<char>());
  EXPECT_THAT(md, HasSubstr("| scenario | placement |"));
  EXPECT_THAT(md, HasSubstr("### Gate"));

  const std::string merged = out + "/nightly.db";
  {
    results::Store store(merged);
    const std::vector<results::ShardSet> sets = results::shard_sets(store);
    ASSERT_EQ(sets.size(), 1u);
    EXPECT_TRUE(sets[0].complete()) << results::format_shard_sets(sets);
    EXPECT_EQ(sets[0].group, "local");
    EXPECT_EQ(sets[0].seed, "4242");
    EXPECT_TRUE(sets[0].duplicated.empty());
    EXPECT_EQ(sets[0].trials, sets[0].planned_trials) << "no shard stopped early";
    for (int64_t id : store.run_ids()) {
      const results::RunRecord run = store.run(id);
      EXPECT_TRUE(run.info.expect == "pass" || run.info.expect == "flaky");
      // The two reproductions: CRIU's legacy stack check and scm06 with the policy off.
      const bool reproduction =
          (run.info.scenario == "compel/stack" && run.info.params.find("check=legacy") != std::string::npos) ||
          (run.info.scenario == "scm06" && run.info.params.find("unix_gc_wait=0") != std::string::npos);
      EXPECT_EQ(run.info.expect == "flaky", reproduction) << run.info.scenario << " " << run.info.params;
    }
  }
  const std::string whole = file("whole.db");
  const Ran unsharded = run_campaign(campaign, whole, "4242", {"-n", "2", "--keep-artifacts", "never"});
  ASSERT_TRUE(unsharded.code == 0 || unsharded.code == 1) << describe(unsharded);
  const std::multiset<TrialKey> sharded_trials = trial_keys(merged);
  const std::multiset<TrialKey> whole_trials = trial_keys(whole);
  EXPECT_EQ(sharded_trials.size(), whole_trials.size());
  EXPECT_TRUE(sharded_trials == whole_trials) << "the same cells, placements, parameters and trial indices";
  EXPECT_GT(whole_trials.size(), base::kAddressSanitizerBuild ? 20u : 100u);
}

TEST_F(Nightly, MergeReportsMissingShards) {
  const std::string campaign = coin_campaign("c.toml", "0.1", 30);
  ASSERT_EQ(run_campaign(campaign, file("s1.db"), "9", {"--shard", "1/3"}).code, 0);
  ASSERT_EQ(run_campaign(campaign, file("s3.db"), "9", {"--shard", "3/3"}).code, 0);
  const Ran merge = flakelab({"merge", "-o", file("all.db"), file("s1.db"), file("s3.db")});
  EXPECT_EQ(merge.code, 0) << describe(merge);
  EXPECT_THAT(merge.out, HasSubstr("INCOMPLETE; missing 2/3"));
  const Ran strict = flakelab({"merge", "--require-complete", "-o", file("all2.db"), file("s1.db"), file("s3.db")});
  EXPECT_EQ(strict.code, 1) << describe(strict);
  const Ran gate = flakelab({"gate", "--db", file("all.db")});
  EXPECT_EQ(gate.code, 1) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("FAIL shard set"));
  EXPECT_THAT(gate.out, HasSubstr("missing 2/3"));
  ASSERT_EQ(run_campaign(campaign, file("s2.db"), "9", {"--shard", "2/3"}).code, 0);
  const Ran complete = flakelab({"merge", "--require-complete", "-o", file("all.db"), file("s2.db")});
  EXPECT_EQ(complete.code, 0) << describe(complete);
  EXPECT_THAT(complete.out, HasSubstr("complete (3 of 3 shards, 3 runs, 30 trials)"));
}

TEST_F(Nightly, ShardNeedsACampaignAndASharedSeed) {
  const std::string campaign = coin_campaign("c.toml", "0.1", 10);
  Ran ran = flakelab({"run", "--campaign", campaign, "--shard", "1/2", "--db", file("x.db")});
  EXPECT_EQ(ran.code, 2) << describe(ran);
  EXPECT_THAT(ran.out, HasSubstr("must share one seed"));
  ran = flakelab({"run", "selftest/coin", "--shard", "1/2", "--seed", "1", "--db", file("x.db")});
  EXPECT_EQ(ran.code, 2) << describe(ran);
  EXPECT_THAT(ran.out, HasSubstr("give --campaign FILE"));
  ran = run_campaign(campaign, file("x.db"), "1", {"--shard", "3/2"});
  EXPECT_EQ(ran.code, 2) << describe(ran);
  EXPECT_THAT(ran.out, HasSubstr("expected I/N"));
  ran = run_campaign(campaign, file("x.db"), "1", {"--shard", "1/2", "--until-failures", "2"});
  EXPECT_EQ(ran.code, 2) << describe(ran);
  EXPECT_THAT(ran.out, HasSubstr("until_failures cannot be combined with --shard"));
  EXPECT_FALSE(fs::exists(file("x.db"))) << "nothing is written on a usage error";
}

// The gate: a seeded regression (coin at 0.3 against a 0.05 baseline) fails it, the same
// rate passes, a failing must-not-fail cell and a new signature fail it.
TEST_F(Nightly, GateFailsOnARegressionAndPassesOnAnEqualRate) {
  ASSERT_EQ(run_campaign(coin_campaign("base.toml", "0.05", 400), file("base.db"), "1").code, 0);
  ASSERT_EQ(run_campaign(coin_campaign("worse.toml", "0.3", 400), file("worse.db"), "2").code, 0);
  ASSERT_EQ(run_campaign(coin_campaign("same.toml", "0.05", 400), file("same.db"), "3").code, 0);

  Ran gate = flakelab({"gate", "--db", file("worse.db"), "--baseline", file("base.db"), "--ignore-param", "p"});
  EXPECT_EQ(gate.code, 1) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("fails significantly more often than in the baseline"));
  EXPECT_THAT(gate.out, HasSubstr("gate: FAILED (1 problem)"));

  gate = flakelab({"gate", "--db", file("same.db"), "--baseline", file("base.db"), "--ignore-param", "p"});
  EXPECT_EQ(gate.code, 0) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("gate: PASSED"));
  EXPECT_THAT(gate.out, HasSubstr("no signature the baseline did not have"));

  // Without --ignore-param the p=0.3 cell has no baseline: noted, not judged.
  gate = flakelab({"gate", "--db", file("worse.db"), "--baseline", file("base.db")});
  EXPECT_EQ(gate.code, 0) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("1 cell is not in the baseline"));

  // A must-not-fail cell with failures.
  ASSERT_EQ(run_campaign(coin_campaign("strict.toml", "0.05", 200, "pass"), file("strict.db"), "4").code, 1);
  gate = flakelab({"gate", "--db", file("strict.db"), "--baseline", file("base.db"), "--ignore-param", "p"});
  EXPECT_EQ(gate.code, 1) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("must not fail, but"));

  // A zero-failure must-not-fail cell passes with its bound; a new signature fails.
  ASSERT_EQ(run_campaign(coin_campaign("clean.toml", "0", 300, "pass"), file("clean.db"), "5").code, 0);
  gate = flakelab({"gate", "--db", file("clean.db"), "--baseline", file("base.db")});
  EXPECT_EQ(gate.code, 0) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("0 of 300 failed; rate < 0.994% at 95% confidence"));
  const std::string misbehave = write("m.toml",
                                      "keep_artifacts = \"never\"\n[[run]]\nscenario = \"selftest/misbehave\"\n"
                                      "trials = 5\nexpect = \"flaky\"\n");
  ASSERT_EQ(run_campaign(misbehave, file("new-sig.db"), "6").code, 0);
  gate = flakelab({"gate", "--db", file("new-sig.db"), "--baseline", file("base.db")});
  EXPECT_EQ(gate.code, 1) << describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("never seen in the baseline"));

  // A missing database is 3 in gate as in report and merge; a bad option is 2.
  const Ran missing = flakelab({"gate", "--db", file("nope.db")});
  EXPECT_EQ(missing.code, 3) << missing.out;
  EXPECT_THAT(missing.out, HasSubstr("nope.db: No such file or directory"));
  EXPECT_EQ(flakelab({"gate", "--db", file("same.db"), "--alpha", "2"}).code, 2);
}

TEST_F(Nightly, BisectVerdictSaysBadGoodOrSkip) {
  const std::string db = file("bisect.db");
  Ran bad = flakelab({"bisect-verdict", "selftest/coin", "--param", "p=0.6", "--baseline-rate", "0.1", "--db", db,
                      "--seed", "1"});
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_THAT(bad.out, HasSubstr("bad: "));
  Ran good = flakelab({"bisect-verdict", "selftest/coin", "--param", "p=0.01", "--baseline-rate", "0.2", "--db", db,
                       "--seed", "2"});
  EXPECT_EQ(good.code, 0) << describe(good);
  EXPECT_THAT(good.out, HasSubstr("good: "));
  // Between the two rates and a small budget: undecided.
  Ran skip = flakelab({"bisect-verdict", "selftest/coin", "--param", "p=0.15", "--baseline-rate", "0.1", "--bad-rate",
                       "0.2", "--max-trials", "20", "--db", db, "--seed", "3"});
  EXPECT_EQ(skip.code, 125) << describe(skip);
  EXPECT_THAT(skip.out, HasSubstr("skip: undecided after"));
  results::Store store(db);
  const std::vector<int64_t> runs = store.run_ids();
  ASSERT_EQ(runs.size(), 3u) << "each verdict records its trials";
  EXPECT_EQ(store.trials(runs[2]).size(), 20u);
  EXPECT_LT(store.trials(runs[0]).size(), 200u) << "a clear case needs few trials";
  EXPECT_GT(store.summarize(runs[0]).failures, 0);
  // Errors stop the bisection instead of marking the commit bad.
  EXPECT_EQ(flakelab({"bisect-verdict", "selftest/nope", "--baseline-rate", "0.1", "--db", db}).code, 128);
  EXPECT_EQ(flakelab({"bisect-verdict", "selftest/coin", "--baseline-rate", "1.5", "--db", db}).code, 128);
  EXPECT_EQ(flakelab({"bisect-verdict", "selftest/coin", "--db", db}).code, 128) << "--baseline-rate is required";
}

// The workflow file passes @action-validator/cli (installed by ci/bootstrap.sh), and the
// validator does reject a broken copy, so the check is real.
TEST_F(Nightly, WorkflowPassesTheValidator) {
  const std::string validator = FLAKELAB_SOURCE_DIR "/ci/github/node_modules/.bin/action-validator";
  ASSERT_TRUE(fs::exists(validator)) << validator << " is missing: run ci/bootstrap.sh (npm ci in ci/github)";
  const std::string workflow = FLAKELAB_SOURCE_DIR "/ci/github/nightly.yml";
  const Ran ok = shell(quote(validator) + " " + quote(workflow));
  EXPECT_EQ(ok.code, 0) << describe(ok);
  std::ifstream in(workflow);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("schedule:"));
  EXPECT_THAT(text, HasSubstr("workflow_dispatch:"));
  EXPECT_THAT(text, HasSubstr("--shard \"${{ matrix.shard }}/$SHARDS\""));
  EXPECT_THAT(text, HasSubstr("flakelab gate"));
  const size_t at = text.find("timeout-minutes: 90");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("timeout-minutes: 90").size(), "timeout-minutes: 90\n    runs-every: never");
  const Ran broken = shell(quote(validator) + " " + quote(write("broken.yml", text)));
  EXPECT_NE(broken.code, 0) << "the validator accepted an unknown job key:\n" << broken.out;
}

}  // namespace
}  // namespace flakelab::harness
