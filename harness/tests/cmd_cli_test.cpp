// End-to-end tests of `flakelab run cmd -- PROGRAM ARGS...` and `flakelab rerun`: rates
// with --expect flaky, --spread, the FLAKELAB_* environment, timeouts, captured output
// and failure messages, and a rerun that replays a recorded trial.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/seed.h"
#include "flakelab/results/store.h"
#include "process_scan.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;
using results::Outcome;
using testing::describe;
using testing::Ran;
using testing::slurp;

class CmdCli : public ::testing::Test {
 protected:
  Ran flakelab(const std::vector<std::string>& args) {
    return testing::finish_flakelab(dir_, testing::spawn_flakelab(dir_, args));
  }
  // `flakelab run cmd OPTIONS --db DB -- COMMAND...`
  Ran run_cmd(std::vector<std::string> options, const std::vector<std::string>& command) {
    options.insert(options.begin(), {"run", "cmd"});
    options.insert(options.end(), {"--db", db_, "--"});
    options.insert(options.end(), command.begin(), command.end());
    return flakelab(options);
  }
  std::vector<results::TrialRecord> trials_of(int64_t run_id) { return results::Store(db_).trials(run_id); }
  int64_t last_run() {
    const std::vector<int64_t> ids = results::Store(db_).run_ids();
    if (ids.empty()) throw std::runtime_error("no run recorded");
    return ids.back();
  }
  static bool two_cpus() { return ::sysconf(_SC_NPROCESSORS_ONLN) >= 2; }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-cmd-"};
  const fs::path dir_ = temp_.path();
  const std::string db_ = (dir_ / "t.db").string();
};

// The acceptance command at -n 200 (CI size): about 5% fail, reported with an
// interval, and --expect flaky makes that exit 0.
TEST_F(CmdCli, ExpectFlakyReportsTheRateAndExitsZero) {
  Ran ran = run_cmd({"-n", "200", "--expect", "flaky"},
                    {"sh", "-c", "test $(( $(od -An -N2 -tu2 /dev/urandom) % 20 )) -ne 0"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("95% Wilson"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("expected flaky"), std::string::npos) << ran.out;
  int64_t failures = 0;
  for (const results::TrialRecord& trial : trials_of(last_run())) {
    ASSERT_NE(trial.outcome, Outcome::kError) << trial.message;
    if (trial.outcome == Outcome::kFail) {
      ++failures;
      EXPECT_EQ(trial.message, "exited with status 1 (no output)");
    }
  }
  // Binomial(200, 0.05): outside 1..30 with probability < 1e-4.
  EXPECT_GE(failures, 1);
  EXPECT_LE(failures, 30);

  // Without --expect flaky the same failures fail the run.
  Ran strict = run_cmd({"-n", "200"}, {"sh", "-c", "test $(( $(od -An -N2 -tu2 /dev/urandom) % 20 )) -ne 0"});
  EXPECT_EQ(strict.code, 1) << describe(strict);
}

TEST_F(CmdCli, SpreadPutsTwoThreadsOfOneProcessOnTwoPus) {
  if (!two_cpus()) GTEST_SKIP() << "needs two CPUs";
  Ran ran = run_cmd({"-n", "3", "--spread", "--cpus", "victim=0,injector=1", "--keep-artifacts", "always"},
                    {FLAKELAB_TWO_THREADS});
  ASSERT_EQ(ran.code, 0) << describe(ran);  // the program itself checks that its threads ran apart
  for (const results::TrialRecord& trial : trials_of(last_run())) {
    EXPECT_EQ(trial.cpus_used, "injector=1,command=0+1");
  }
  // Without --spread both threads share the victim's PU, and the program says so.
  Ran together = run_cmd({"-n", "2", "--cpus", "victim=0,injector=1"}, {FLAKELAB_TWO_THREADS});
  EXPECT_EQ(together.code, 1) << describe(together);
  for (const results::TrialRecord& trial : trials_of(last_run())) {
    EXPECT_EQ(trial.cpus_used, "injector=1,command=0");
    EXPECT_EQ(trial.message, "main thread on CPU 0, second thread on CPU 0; exited with status 1");
  }
}

// The trial's seed, index, directory and PUs are in the command's environment; the same
// --seed gives the same values.
TEST_F(CmdCli, TheEnvironmentNamesTheTrialAndReplaysWithTheSeed) {
  const std::vector<std::string> command{
      "sh", "-c", "echo \"$FLAKELAB_SEED $FLAKELAB_TRIAL ${FLAKELAB_TMPDIR##*/} [$FLAKELAB_CPUS] $PWD\"; exit 1"};
  std::vector<std::vector<std::string>> messages;
  for (int run = 0; run < 2; ++run) {
    Ran ran = run_cmd({"-n", "3", "--seed", "42", "--cpus", "victim=0,injector=0"}, command);
    ASSERT_EQ(ran.code, 1) << describe(ran);
    std::vector<std::string> these;
    for (const results::TrialRecord& trial : trials_of(last_run())) {
      EXPECT_EQ(trial.outcome, Outcome::kFail);
      const std::string head = fmt::format("{} {} cell1-trial{} [0] ", trial_seed(42, trial.index), trial.index,
                                           trial.index);
      EXPECT_EQ(trial.message.rfind(head, 0), 0u) << trial.message;
      EXPECT_NE(trial.message.find(fmt::format("/cell1-trial{}; exited with status 1", trial.index)),
                std::string::npos)
          << "cwd is the trial's directory: " << trial.message;
      these.push_back(trial.message.substr(0, head.size()));
    }
    messages.push_back(these);
  }
  EXPECT_EQ(messages[0], messages[1]);
}

// At the timeout the command and everything it started are killed.
TEST_F(CmdCli, TimeoutKillsTheCommandAndItsChildren) {
  const std::string sleeper = (dir_ / "flk-hang-sleep").string();
  fs::copy_file("/bin/sleep", sleeper);
  Ran ran = run_cmd({"-n", "1", "--timeout", "500ms"}, {"sh", "-c", sleeper + " 60 & " + sleeper + " 60; wait"});
  ASSERT_EQ(ran.code, 1) << describe(ran);
  const std::vector<results::TrialRecord> trials = trials_of(last_run());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].outcome, Outcome::kTimeout) << trials[0].message;
  EXPECT_EQ(testing::processes_named("flk-hang-sleep"), std::vector<pid_t>{});
}

// The output is kept (output.log, the failure's log excerpt); the message is the last
// line matching --failure, else the last non-empty line, with the exit status or signal.
TEST_F(CmdCli, TheMessageComesFromTheOutput) {
  const std::vector<std::string> command{
      "sh", "-c", "echo 'step 1 ok'; echo 'ERROR: disk on fire' >&2; echo 'cleanup done'; echo; exit 3"};
  Ran plain = run_cmd({"-n", "1"}, command);
  ASSERT_EQ(plain.code, 1) << describe(plain);
  std::vector<results::TrialRecord> trials = trials_of(last_run());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].message, "cleanup done; exited with status 3");
  const std::string kept = trials[0].artifact_path;
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(slurp(fs::path(kept) / "output.log"), "step 1 ok\nERROR: disk on fire\ncleanup done\n\n");
  EXPECT_NE(trials[0].log_excerpt.find("== output.log ==\nstep 1 ok\n"), std::string::npos) << trials[0].log_excerpt;

  Ran matched = run_cmd({"-n", "1", "--failure", "ERROR"}, command);
  ASSERT_EQ(matched.code, 1) << describe(matched);
  trials = trials_of(last_run());
  EXPECT_EQ(trials[0].outcome, Outcome::kFail);
  EXPECT_EQ(trials[0].message, "ERROR: disk on fire; exited with status 3");

  Ran signalled = run_cmd({"-n", "1"}, {"sh", "-c", "echo about to crash; kill -SEGV $$"});
  ASSERT_EQ(signalled.code, 1) << describe(signalled);
  EXPECT_EQ(trials_of(last_run())[0].message, "about to crash; killed by SIGSEGV");
}

// Output beyond 1 MiB keeps its last 1 MiB.
TEST_F(CmdCli, OutputIsBoundedToItsLastMebibyte) {
  Ran ran = run_cmd({"-n", "1"}, {"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo last line; exit 1"});
  ASSERT_EQ(ran.code, 1) << describe(ran);
  const results::TrialRecord trial = trials_of(last_run()).at(0);
  EXPECT_EQ(trial.message, "last line; exited with status 1");
  const std::string output = slurp(fs::path(trial.artifact_path) / "output.log");
  EXPECT_EQ(output.size(), 1024u * 1024u);
  EXPECT_EQ(output.substr(output.size() - 10), "last line\n");
}

// rerun replays a recorded trial: same seed (so the same FLAKELAB_SEED), params and PUs;
// --wrap prefixes a wrapper to the command.
TEST_F(CmdCli, RerunReplaysTheRecordedTrial) {
  const std::string cpus = two_cpus() ? "victim=1,injector=0" : "victim=0,injector=0";
  Ran ran = run_cmd({"-n", "12", "--seed", "5", "--cpus", cpus, "--expect", "flaky"},
                    {"sh", "-c", "echo \"seed $FLAKELAB_SEED on [$FLAKELAB_CPUS] ${WRAPPED:-bare}\"; "
                                 "test $((FLAKELAB_SEED % 3)) -ne 0"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  const int64_t run_id = last_run();
  std::optional<results::TrialRecord> failed;
  for (const results::TrialRecord& trial : trials_of(run_id)) {
    if (trial.outcome == Outcome::kFail && trial.index > 0) failed = trial;
  }
  ASSERT_TRUE(failed) << "no failing trial among 12 with a 1/3 chance each";

  Ran again = flakelab({"rerun", std::to_string(run_id), std::to_string(failed->index), "--db", db_});
  ASSERT_EQ(again.code, 0) << describe(again);
  EXPECT_NE(again.out.find("same outcome as recorded"), std::string::npos) << again.out;
  const int64_t rerun_id = last_run();
  ASSERT_NE(rerun_id, run_id);
  std::vector<results::TrialRecord> trials = trials_of(rerun_id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].index, failed->index);
  EXPECT_EQ(trials[0].message, failed->message);  // the seed and PUs it printed
  EXPECT_EQ(trials[0].cpus_used, failed->cpus_used);
  EXPECT_EQ(results::Store(db_).run(rerun_id).info.seed, 5u);

  Ran wrapped = flakelab({"rerun", "--run", std::to_string(run_id), "--trial", std::to_string(failed->index),
                          "--db", db_, "--wrap", "env WRAPPED=under-wrap"});
  ASSERT_EQ(wrapped.code, 0) << describe(wrapped);
  trials = trials_of(last_run());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_NE(trials[0].message.find("under-wrap"), std::string::npos) << trials[0].message;
  EXPECT_EQ(trials[0].message.substr(0, trials[0].message.find(']')),
            failed->message.substr(0, failed->message.find(']')));

  Ran missing = flakelab({"rerun", std::to_string(run_id), "99", "--db", db_});
  EXPECT_EQ(missing.code, 2) << describe(missing);
  EXPECT_NE(missing.err.find("has no trial 99"), std::string::npos) << missing.err;
}

// A built-in scenario's rerun under --wrap runs the whole rerun under the wrapper.
TEST_F(CmdCli, RerunOfABuiltInScenarioRunsUnderTheWrapper) {
  Ran ran = flakelab({"run", "selftest/coin", "-n", "5", "--seed", "3", "--param", "p=0.5", "--db", db_,
                      "--expect", "flaky"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  const int64_t run_id = last_run();
  const results::TrialRecord recorded = trials_of(run_id).at(2);
  const std::string marker = (dir_ / "wrapped").string();
  Ran again = flakelab({"rerun", std::to_string(run_id), "2", "--db", db_, "--wrap", "sh -c 'touch " + marker +
                                                                                       "; exec \"$@\"' wrap"});
  ASSERT_EQ(again.code, 0) << describe(again);
  EXPECT_TRUE(fs::exists(marker));
  const results::TrialRecord replayed = trials_of(last_run()).at(0);
  EXPECT_EQ(replayed.outcome, recorded.outcome);
  EXPECT_EQ(replayed.message, recorded.message);
}

TEST_F(CmdCli, BadCommandLinesAreUsageErrors) {
  Ran none = flakelab({"run", "cmd", "--db", db_});
  EXPECT_EQ(none.code, 2) << describe(none);
  EXPECT_NE(none.err.find("flakelab run cmd [OPTIONS] -- PROGRAM ARGS..."), std::string::npos) << none.err;
  Ran other = flakelab({"run", "selftest/noop", "--db", db_, "--", "true"});
  EXPECT_EQ(other.code, 2) << describe(other);
  Ran spread = flakelab({"run", "selftest/noop", "--spread", "--db", db_});
  EXPECT_EQ(spread.code, 2) << describe(spread);
  Ran expect = run_cmd({"--expect", "sometimes"}, {"true"});
  EXPECT_EQ(expect.code, 2) << describe(expect);
  EXPECT_NE(expect.err.find("--expect 'sometimes'"), std::string::npos) << expect.err;
  Ran report = flakelab({"report", "--db", db_, "--", "x"});
  EXPECT_EQ(report.code, 2) << describe(report);
  EXPECT_FALSE(fs::exists(db_)) << "nothing is recorded for a usage error";
}

// A campaign file names the command as an argv array.
TEST_F(CmdCli, ACampaignFileRunsACommand) {
  std::ofstream(dir_ / "c.toml") << "[[run]]\nscenario = \"cmd\"\ncommand = [\"sh\", \"-c\", \"test $FLAKELAB_TRIAL -lt 100\"]\n"
                                    "trials = 5\n";
  Ran ran = flakelab({"run", "--campaign", (dir_ / "c.toml").string(), "--db", db_});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_EQ(trials_of(last_run()).size(), 5u);
}

// rerun reads a run's command line back into its words.
TEST(CommandLine, SplitUndoesQuote) {
  const std::vector<std::string> words{"flakelab", "run", "cmd", "--", "sh", "-c", "echo 'a b' \"$X\"; exit 1", "",
                                       "it's", "a\\b"};
  EXPECT_EQ(split_command_line(quote_command_line(words)), words);
  EXPECT_THROW(split_command_line("run 'open"), UsageError);
}

}  // namespace
}  // namespace flakelab::harness
