// End-to-end tests of the `flakelab` binary: exit codes, messages, and the rows it
// leaves in the database.
#include <fcntl.h>
#include <signal.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flakelab/base/build_flavor.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/os_cpu_counts.h"
#include "flakelab/harness/placement_plan.h"
#include "flakelab/harness/topology.h"
#include "cli_runner.h"
#include "process_scan.h"
#include "flakelab/results/signature.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

// "coin: tails (u=0.DDDD < p=P)" (std::regex is avoided: GCC 12 warns inside it
// under the sanitizers).
bool is_coin_message(const std::string& message, const std::string& p) {
  const std::string head = "coin: tails (u=0.";
  const std::string tail = " < p=" + p + ")";
  if (message.size() != head.size() + 4 + tail.size()) return false;
  if (message.compare(0, head.size(), head) != 0) return false;
  for (size_t i = head.size(); i < head.size() + 4; ++i) {
    if (message[i] < '0' || message[i] > '9') return false;
  }
  return message.compare(head.size() + 4, tail.size(), tail) == 0;
}


namespace fs = std::filesystem;
using results::Outcome;

using testing::describe;
using testing::processes_named;
using testing::Ran;
using testing::slurp;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = (dir_ / "t.db").string();
  }

  pid_t spawn(const std::vector<std::string>& args) { return testing::spawn_flakelab(dir_, args); }
  Ran finish(pid_t pid) { return testing::finish_flakelab(dir_, pid); }

  Ran flakelab(const std::vector<std::string>& args) { return finish(spawn(args)); }

  Ran run(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    args.push_back("--db");
    args.push_back(db_);
    return flakelab(args);
  }

  std::vector<int64_t> runs() { return results::Store(db_).run_ids(); }
  std::vector<results::TrialRecord> trials_of_last_run() {
    results::Store store(db_);
    std::vector<int64_t> ids = store.run_ids();
    if (ids.empty()) throw std::runtime_error("no run recorded");
    return store.trials(ids.back());
  }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-cli-"};  // removed with the fixture
  const fs::path dir_ = temp_.path();
  std::string db_;
};

TEST_F(Cli, CoinAtZeroPassesAndRecordsEveryTrial) {
  Ran ran = run({"selftest/coin", "-n", "200", "--param", "p=0"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("selftest/coin"), std::string::npos) << ran.out;
  ASSERT_EQ(runs().size(), 1u);
  std::vector<results::TrialRecord> trials = trials_of_last_run();
  ASSERT_EQ(trials.size(), 200u);
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(trials[i].outcome, Outcome::kPass) << i << " " << trials[i].message;
    EXPECT_GT(trials[i].duration_ms, 0);
    EXPECT_EQ(trials[i].cpus_used.rfind("injector=", 0), 0u) << trials[i].cpus_used;
  }
  results::Store store(db_);
  results::RunSummary summary = store.summarize(runs().back());
  EXPECT_EQ(summary.params, "p=0");
  EXPECT_EQ(summary.placement, "unpinned");
}

TEST_F(Cli, CoinAtOneFailsEveryTrialAndExitsOne) {
  Ran ran = run({"selftest/coin", "-n", "50", "-p", "p=1"});
  ASSERT_EQ(ran.code, 1) << describe(ran);
  std::vector<results::TrialRecord> trials = trials_of_last_run();
  ASSERT_EQ(trials.size(), 50u);
  for (const auto& trial : trials) {
    EXPECT_EQ(trial.outcome, Outcome::kFail);
    EXPECT_TRUE(is_coin_message(trial.message, "1"))
        << trial.message;
  }
}

TEST_F(Cli, SameSeedGivesTheSameVerdicts) {
  auto verdicts = [this](const std::string& seed) {
    Ran ran = run({"selftest/coin", "-n", "100", "--param", "p=0.3", "--seed", seed});
    EXPECT_EQ(ran.code, 1) << describe(ran);
    EXPECT_NE(ran.out.find("seed: " + seed), std::string::npos) << ran.out;
    std::string text;
    for (const auto& trial : trials_of_last_run()) text += trial.message + "|";
    return text;
  };
  const std::string first = verdicts("12345");
  EXPECT_EQ(verdicts("12345"), first);
  EXPECT_NE(verdicts("54321"), first);
}

TEST_F(Cli, ARandomSeedIsPrintedAndReplays) {
  Ran ran = run({"selftest/coin", "-n", "60", "--param", "p=0.5"});
  ASSERT_EQ(ran.code, 1) << describe(ran);
  const size_t at = ran.out.find("seed: ");
  ASSERT_NE(at, std::string::npos) << ran.out;
  const std::string seed = ran.out.substr(at + 6, ran.out.find_first_not_of("0123456789", at + 6) - (at + 6));
  ASSERT_FALSE(seed.empty()) << ran.out;
  std::string first;
  for (const auto& trial : trials_of_last_run()) first += trial.message + "|";
  ASSERT_EQ(run({"selftest/coin", "-n", "60", "--param", "p=0.5", "--seed", seed}).code, 1);
  std::string second;
  for (const auto& trial : trials_of_last_run()) second += trial.message + "|";
  EXPECT_EQ(first, second);
}

TEST_F(Cli, AFailedSystemCallOfTheHarnessSaysWhichAndExitsThree) {
  const char* old = ::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", (dir_ / "missing").c_str(), 1);
  Ran ran = run({"selftest/noop", "-n", "1"});
  if (old) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  EXPECT_EQ(ran.code, 3) << describe(ran);
  EXPECT_NE(ran.err.find("flakelab: mkdtemp " + (dir_ / "missing").string()), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("No such file or directory"), std::string::npos) << ran.err;
  EXPECT_EQ(ran.err.find("internal error"), std::string::npos) << ran.err;
}

TEST_F(Cli, UsageErrorsExitTwoBeforeWritingAnything) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"selftest/nope"}, "unknown scenario 'selftest/nope'"},
      {{"selftest/coin", "--param", "q=1"}, "scenario selftest/coin has no parameter 'q'"},
      {{"selftest/noop", "--param", "leak_child=maybe"},
       "--param leak_child=maybe: scenario selftest/noop accepts leak_child = off | on"},
      {{"selftest/coin", "--param", "p"}, "bad --param 'p': expected NAME=VALUE"},
      {{"selftest/coin", "--cpus", "victim:0"}, "bad --cpus 'victim:0'"},
      {{"selftest/coin", "--cpus", "victim=x"}, "'x' is not a CPU number"},
      {{"selftest/coin", "--cpus", "boss=0"}, "unknown role 'boss'"},
      {{"selftest/coin", "--cpus", "victim=999"}, "CPU 999 does not exist on this machine"},
      {{"selftest/coin", "-n", "0"}, "-n 0: need at least 1 trial"},
      {{"selftest/coin", "--timeout", "0"}, "--timeout 0: need a positive number"},
      {{"selftest/coin", "--timeout", "2000000s"}, "need a positive number of seconds, at most 1e+06"},
      // Durations: a number and its unit (README, "Durations"); a bare number is refused.
      {{"selftest/coin", "--timeout", "1"}, "--timeout '1': '1': no unit (a duration is a number and a unit"},
      {{"selftest/coin", "--timeout", "1e300"}, "--timeout '1e300': '1e300': unknown unit 'e300'"},
      {{"selftest/coin", "--max-time", "90"}, "--max-time '90': '90': no unit"},
      {{"compel/infect", "--jitter", "before_seize=5"}, "--jitter 'before_seize=5': '5': no unit"},
      // Typed parameters are checked when the run is planned, not trial by trial.
      {{"cr/threads", "-p", "cycles=abc", "-n", "10000"},
       "--param cycles=abc: scenario cr/threads accepts cycles = an integer from 1 to 100"},
      {{"selftest/coin", "-p", "p=2"}, "--param p=2: scenario selftest/coin accepts p = a probability from 0 to 1"},
      {{"selftest/coin", "-p", "p=nan"}, "--param p=nan: scenario selftest/coin accepts p = a probability from 0 to 1"},
  };
  for (const Case& c : cases) {
    Ran ran = run(c.args);
    EXPECT_EQ(ran.code, 2) << describe(ran);
    EXPECT_NE(ran.err.find(c.message), std::string::npos) << describe(ran);
  }
  EXPECT_FALSE(fs::exists(db_));
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{}, {"frobnicate"}, {"run"}, {"run", "selftest/coin", "-n", "x"}}) {
    Ran ran = flakelab(args);
    EXPECT_EQ(ran.code, 2) << describe(ran);
  }
}

TEST_F(Cli, ADatabaseThatCannotBeOpenedIsAHarnessError) {
  Ran ran = flakelab({"run", "selftest/noop", "-n", "1", "--db", (dir_ / "no/such/dir/x.db").string()});
  EXPECT_EQ(ran.code, 3) << describe(ran);
  EXPECT_NE(ran.err.find("no/such/dir/x.db"), std::string::npos) << describe(ran);
}

TEST_F(Cli, ATrialOverItsTimeoutIsKilledWithItsChildren) {
  const auto start = std::chrono::steady_clock::now();
  Ran ran = run({"selftest/noop", "-n", "2", "--timeout", "1s", "--param", "sleep_ms=3000",
                 "--param", "leak_child=on"});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(ran.code, 1) << describe(ran);
  EXPECT_LT(elapsed, std::chrono::milliseconds(5000));
  std::vector<results::TrialRecord> trials = trials_of_last_run();
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& trial : trials) {
    EXPECT_EQ(trial.outcome, Outcome::kTimeout);
    EXPECT_EQ(trial.message, "timeout after 1s (SIGABRT)");
    EXPECT_GE(trial.duration_ms, 1000);
    EXPECT_LT(trial.duration_ms, 2500);
  }
  EXPECT_EQ(processes_named("flk-noop-leak"), std::vector<pid_t>{});
}

TEST_F(Cli, ProcessesLeftBehindByATrialAreGoneAfterIt) {
  Ran ran = run({"selftest/noop", "-n", "5", "--param", "leak_child=on"});
  ASSERT_EQ(ran.code, 0) << describe(ran);  // the scenario saw its leaked child alive
  EXPECT_EQ(processes_named("flk-noop-leak"), std::vector<pid_t>{});
}

TEST_F(Cli, PinnedVictimAndInjectorAreRecordedAsReadBack) {
  Topology topology;
  if (topology.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  const std::string a = std::to_string(topology.pus()[0]);
  const std::string b = std::to_string(topology.pus()[1]);
  for (const auto& [victim, injector] : {std::pair{a, b}, std::pair{b, a}, std::pair{a, a}}) {
    const std::string placement = "victim=" + victim + ",injector=" + injector;
    Ran ran = run({"selftest/noop", "-n", "20", "--param", "spawn_victim=on", "--cpus", placement});
    ASSERT_EQ(ran.code, 0) << describe(ran);
    for (const auto& trial : trials_of_last_run()) {
      EXPECT_EQ(trial.outcome, Outcome::kPass) << trial.message;
      EXPECT_EQ(trial.cpus_used, placement);
    }
    results::Store store(db_);
    EXPECT_EQ(store.summarize(store.run_ids().back()).placement, placement);
  }
}

TEST_F(Cli, UnpinnedRolesRecordWhereTheyMayRun) {
  Ran ran = run({"selftest/noop", "-n", "3", "--param", "spawn_victim=on"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  Topology topology;
  const std::string list = format_cpu_list(topology.pus());
  for (const auto& trial : trials_of_last_run()) {
    EXPECT_EQ(trial.cpus_used, "victim=" + list + ",injector=" + list);
  }
}

TEST_F(Cli, TrialEndingsAreClassified) {
  struct Case {
    std::string how;
    Outcome outcome;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"fail", Outcome::kFail, "misbehave: failed on purpose"},
      {"error", Outcome::kError, "misbehave: error on purpose"},
      {"throw", Outcome::kError, "misbehave: thrown on purpose"},
      {"exit", Outcome::kError, "trial process exited with status 7 without writing a result"},
      {"segv", Outcome::kError, "trial process killed by signal 11 (Segmentation fault)"},
  };
  for (const Case& c : cases) {
    Ran ran = run({"selftest/misbehave", "-n", "3", "--param", "how=" + c.how});
    EXPECT_EQ(ran.code, 1) << describe(ran);
    std::vector<results::TrialRecord> trials = trials_of_last_run();
    ASSERT_EQ(trials.size(), 3u) << c.how;
    for (const auto& trial : trials) {
      EXPECT_EQ(trial.outcome, c.outcome) << c.how;
      EXPECT_EQ(trial.message, c.message) << c.how;
    }
    // The console summary groups messages by signature: its text and count, not raw lines.
    const std::string signature = results::Normalizer().normalize(c.message);
    EXPECT_NE(ran.out.find("  signatures:\n       3  "), std::string::npos) << describe(ran);
    EXPECT_NE(ran.out.find(signature + "\n"), std::string::npos) << signature << "\n" << describe(ran);
  }
}

TEST_F(Cli, ReportSummarizesRunsWithTheRunExitCodes) {
  ASSERT_EQ(run({"selftest/coin", "-n", "30", "--param", "p=0"}).code, 0);
  ASSERT_EQ(run({"selftest/coin", "-n", "30", "--param", "p=1"}).code, 1);
  const std::vector<int64_t> ids = runs();
  ASSERT_EQ(ids.size(), 2u);
  Ran good = flakelab({"report", "--db", db_, "--run", std::to_string(ids[0])});
  EXPECT_EQ(good.code, 0) << describe(good);
  EXPECT_NE(good.out.find("selftest/coin"), std::string::npos) << good.out;
  EXPECT_EQ(good.out.find("coin: tails"), std::string::npos) << good.out;
  Ran bad = flakelab({"report", "--db", db_, "--run", std::to_string(ids[1])});
  EXPECT_EQ(bad.code, 1) << describe(bad);
  EXPECT_NE(bad.out.find("coin: tails"), std::string::npos) << bad.out;
  Ran all = flakelab({"report", "--db", db_});
  EXPECT_EQ(all.code, 1) << describe(all);
  EXPECT_NE(all.out.find("p=0"), std::string::npos);
  EXPECT_NE(all.out.find("p=1"), std::string::npos);
  Ran missing_run = flakelab({"report", "--db", db_, "--run", "999"});
  EXPECT_EQ(missing_run.code, 2) << describe(missing_run);
  EXPECT_NE(missing_run.err.find("no run 999"), std::string::npos) << describe(missing_run);
  Ran missing_db = flakelab({"report", "--db", (dir_ / "absent.db").string()});
  EXPECT_EQ(missing_db.code, 3) << describe(missing_db);
  EXPECT_NE(missing_db.err.find("absent.db: No such file or directory"), std::string::npos)
      << describe(missing_db);
  EXPECT_FALSE(fs::exists(dir_ / "absent.db"));
}

TEST_F(Cli, DefaultDatabaseIsInTheWorkingDirectory) {
  Ran ran = flakelab({"run", "selftest/noop", "-n", "2"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_TRUE(fs::exists(dir_ / "flakelab.db"));
  Ran report = flakelab({"report"});
  EXPECT_EQ(report.code, 0) << describe(report);
  EXPECT_NE(report.out.find("selftest/noop"), std::string::npos) << report.out;
}

TEST_F(Cli, AnInterruptStopsTheRunAndKeepsWhatItRecorded) {
  pid_t pid = spawn({"run", "selftest/noop", "-n", "1000", "--param", "sleep_ms=100", "--param",
                     "leak_child=on", "--db", db_});
  ::usleep(800 * 1000);
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  Ran ran = finish(pid);
  EXPECT_EQ(ran.code, 128 + SIGINT) << describe(ran);
  EXPECT_NE(ran.err.find("interrupted by signal 2 after"), std::string::npos) << describe(ran);
  std::vector<results::TrialRecord> trials = trials_of_last_run();
  EXPECT_GE(trials.size(), 2u);
  EXPECT_LT(trials.size(), 10u);
  for (const auto& trial : trials) EXPECT_EQ(trial.outcome, Outcome::kPass) << trial.message;
  EXPECT_EQ(processes_named("flk-noop-leak"), std::vector<pid_t>{});
}

TEST_F(Cli, CpuPrintsTheIdentityAsTextAndJson) {
  Ran text = flakelab({"cpu"});
  ASSERT_EQ(text.code, 0) << describe(text);
  Ran json = flakelab({"cpu", "--json"});
  ASSERT_EQ(json.code, 0) << describe(json);
  auto parsed = nlohmann::json::parse(json.out);
  for (const char* key : {"vendor", "brand", "family", "model", "stepping", "codename",
                          "microcode", "hypervisor", "kernel"}) {
    EXPECT_TRUE(parsed.contains(key)) << key;
  }
  EXPECT_NE(text.out.find("vendor:       " + parsed["vendor"].get<std::string>()),
            std::string::npos);
  EXPECT_NE(text.out.find("kernel:       " + parsed["kernel"].get<std::string>()),
            std::string::npos);
  EXPECT_NE(text.out.find("model:        " + std::to_string(parsed["model"].get<int>())),
            std::string::npos);
}

// What the OS sees, not CPUID's per-package numbers (a 2-vCPU guest once read "cores: 1,
// logical CPUs: 254"), and the hypervisor by name whenever the kernel says there is one.
TEST_F(Cli, CpuCountsWhatTheOsSeesAndNamesTheHypervisor) {
  Ran text = flakelab({"cpu"});
  ASSERT_EQ(text.code, 0) << describe(text);
  const OsCpuCounts hwloc = detect_os_cpu_counts();
  EXPECT_NE(text.out.find(fmt::format("logical CPUs: {} (online", sysconf(_SC_NPROCESSORS_ONLN))),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find(fmt::format("cores:        {}\n", hwloc.cores)), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(fmt::format("packages:     {}\n", hwloc.packages)), std::string::npos) << text.out;

  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool flag = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      flag = (line + " ").find(" hypervisor ") != std::string::npos;
      break;
    }
  }
  const size_t at = text.out.find("hypervisor:   ");
  ASSERT_NE(at, std::string::npos) << text.out;
  const std::string shown = text.out.substr(at + 14, text.out.find('\n', at) - at - 14);
  if (flag) {
    EXPECT_NE(shown, "none");
    EXPECT_NE(shown, "yes");
    EXPECT_FALSE(shown.empty());
  } else {
    EXPECT_EQ(shown, "none");
  }
  Ran json = flakelab({"cpu", "--json"});
  ASSERT_EQ(json.code, 0) << describe(json);
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["logical_cpus"].get<long>(), sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_EQ(parsed["hypervisor"].get<std::string>(), flag ? shown : std::string());
}

TEST_F(Cli, ScenariosListsNamesAndParams) {
  Ran ran = flakelab({"scenarios"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("selftest/coin\n"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("--param p=0.05"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("--param leak_child=off  (off|on)"), std::string::npos) << ran.out;
}

TEST_F(Cli, VersionAndHelpExitZero) {
  Ran version = flakelab({"--version"});
  EXPECT_EQ(version.code, 0) << describe(version);
  EXPECT_NE(version.out.find('.'), std::string::npos) << version.out;
  Ran help = flakelab({"run", "--help"});
  EXPECT_EQ(help.code, 0) << describe(help);
  for (const char* flag : {"--cpus", "--param", "--db", "--seed", "--timeout", "-n"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

TEST_F(Cli, ReportFormatsAreWrittenAndBadOnesRefused) {
  ASSERT_EQ(run({"selftest/coin", "-n", "200", "--param", "p=0.2", "--seed", "3"}).code, 1);
  Ran json = flakelab({"report", "--db", db_, "--format", "json"});
  ASSERT_EQ(json.code, 1) << describe(json);
  nlohmann::json doc = nlohmann::json::parse(json.out);
  ASSERT_FALSE(doc["cells"].empty()) << json.out;
  const std::string xml = (dir_ / "r.xml").string();
  Ran junit = flakelab({"report", "--db", db_, "--format", "junit", "-o", xml});
  ASSERT_EQ(junit.code, 1) << describe(junit);
  EXPECT_NE(slurp(xml).find("<testsuite"), std::string::npos);
  EXPECT_NE(slurp(xml).find("selftest/coin"), std::string::npos);
  const std::string html = (dir_ / "r.html").string();
  ASSERT_EQ(flakelab({"report", "--db", db_, "--format", "html", "-o", html}).code, 1);
  EXPECT_NE(slurp(html).find("<svg"), std::string::npos);
  Ran bad = flakelab({"report", "--db", db_, "--format", "yaml"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown report format 'yaml'"), std::string::npos) << bad.err;
  Ran since = flakelab({"report", "--db", db_, "--since", "2999-01-01", "--format", "text"});
  EXPECT_EQ(since.code, 0) << describe(since);
  EXPECT_EQ(flakelab({"report", "--db", db_, "--since", "soon"}).code, 2);
}

TEST_F(Cli, MergeCombinesDatabasesAndIsIdempotent) {
  const std::string other = (dir_ / "other.db").string();
  ASSERT_EQ(run({"selftest/coin", "-n", "120", "--param", "p=0"}).code, 0);
  ASSERT_EQ(flakelab({"run", "selftest/coin", "-n", "80", "--param", "p=0", "--db", other}).code, 0);
  const std::string all = (dir_ / "all.db").string();
  Ran first = flakelab({"merge", "-o", all, db_, other});
  ASSERT_EQ(first.code, 0) << describe(first);
  Ran again = flakelab({"merge", "-o", all, db_, other});
  ASSERT_EQ(again.code, 0) << describe(again);
  results::Store merged(all);
  int64_t trials = 0;
  for (int64_t id : merged.run_ids()) trials += static_cast<int64_t>(merged.trials(id).size());
  EXPECT_EQ(merged.run_ids().size(), 2u);
  EXPECT_EQ(trials, 200);
  EXPECT_EQ(flakelab({"merge", "-o", all, (dir_ / "missing.db").string()}).code, 3);
  EXPECT_EQ(flakelab({"merge", "-o", all}).code, 2);
}

// Issue 2's acceptance, through the real binary and its isolated trials.
// 1000 trials (250 under ASan, where they took 20 s).
TEST_F(Cli, CompelInfectThousandTrialsAllPass) {
  const int count = base::stress_trials(1000, 250);
  Ran ran = run({"compel/infect", "-n", std::to_string(count)});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  std::vector<results::TrialRecord> trials = trials_of_last_run();
  ASSERT_EQ(trials.size(), static_cast<size_t>(count));
  for (const auto& t : trials) ASSERT_EQ(t.outcome, Outcome::kPass) << t.index << ": " << t.message;
}

TEST_F(Cli, CompelFdspyPassesWithRealChecks) {
  Ran ran = run({"compel/fdspy", "-n", "200"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_EQ(trials_of_last_run().size(), 200u);
}

// Under ASan (where these 4000 trials took 80 s) the legacy run stops at its first
// failure and the fixed check runs 500 trials.
TEST_F(Cli, CompelStackLegacyCheckReproducesTheFlakeAndTheFixedCheckDoesNot) {
  std::vector<std::string> pin;
  Topology topology;
  if (topology.pus().size() >= 2) pin = {"--cpus", "victim=0,injector=0,writer=1"};
  std::vector<std::string> legacy = {"compel/stack", "-n", "2000", "--param", "check=legacy", "--param",
                                     "adjacent_writer=on"};
  if (base::kAddressSanitizerBuild) legacy.insert(legacy.end(), {"--until-failures", "1"});
  legacy.insert(legacy.end(), pin.begin(), pin.end());
  Ran ran = run(legacy);
  ASSERT_EQ(ran.code, 1) << describe(ran);
  int failures = 0;
  for (const auto& t : trials_of_last_run()) {
    ASSERT_NE(t.outcome, Outcome::kError) << t.message;
    ASSERT_NE(t.outcome, Outcome::kTimeout) << t.message;
    if (t.outcome == Outcome::kFail) {
      ++failures;
      EXPECT_NE(t.message.find("Saved data unexpectedly modified"), std::string::npos) << t.message;
    }
  }
  EXPECT_GT(failures, 0);

  std::vector<std::string> fixed = {"compel/stack", "-n", std::to_string(base::stress_trials(2000, 500)), "--param",
                                    "adjacent_writer=on"};
  fixed.insert(fixed.end(), pin.begin(), pin.end());
  ran = run(fixed);
  ASSERT_EQ(ran.code, 0) << describe(ran);
  for (const auto& t : trials_of_last_run()) ASSERT_EQ(t.outcome, Outcome::kPass) << t.message;
}

TEST_F(Cli, TopoListsPusAndOfferedAndSkippedPlacements) {
  Ran text = flakelab({"topo"});
  ASSERT_EQ(text.code, 0) << describe(text);
  EXPECT_NE(text.out.find("topology: this machine\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  same-pu       offered: victim="), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("  unpinned      offered: unpinned"), std::string::npos) << text.out;
  Ran json = flakelab({"topo", "--json"});
  ASSERT_EQ(json.code, 0) << describe(json);
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_FALSE(doc["simulated"].get<bool>());
  EXPECT_EQ(doc["placements"].size(), 8u);
  EXPECT_EQ(doc["pus"].size(), Topology().pus().size());
  for (const auto& p : doc["placements"]) {
    if (!p["offered"].get<bool>()) {
      EXPECT_FALSE(p["reason"].get<std::string>().empty()) << p.dump();
    }
  }
  Ran simulated = flakelab({"topo", "--topology", synthetic_machines::kDualEpyc7763});
  ASSERT_EQ(simulated.code, 0) << describe(simulated);
  EXPECT_NE(simulated.out.find("SIMULATED"), std::string::npos) << simulated.out;
  EXPECT_NE(simulated.out.find("  cross-numa    offered: victim=0,injector=64"), std::string::npos) << simulated.out;
}

// The acceptance command, shortened: one row per offered placement with its rate and
// interval, and the skipped placements with their reasons.
TEST_F(Cli, PlacementAllSweepsWhatThisMachineOffersAndListsTheRest) {
  Ran ran = run({"compel/stack", "--param", "check=legacy", "--param", "adjacent_writer=on", "--placement", "all",
                 "-n", "100", "--keep-artifacts", "never"});
  ASSERT_EQ(ran.code, 1) << describe(ran);  // the legacy check fails sometimes
  Topology topology;
  std::vector<std::string> offered, skipped;
  for (PlacementKind kind : named_placements()) {
    PlanRequest request;
    request.kind = kind;
    (plan_placement(topology, request).offered ? offered : skipped).push_back(to_string(kind));
  }
  const std::string params = "  adjacent_writer=on,check=legacy,rpc_rounds=4,writer_period_us=1000";
  for (const std::string& name : offered) {
    const size_t row = ran.out.find("\ncompel/stack  " + name + params + " ");
    ASSERT_NE(row, std::string::npos) << name << "\n" << ran.out;
    const std::string line = ran.out.substr(row + 1, ran.out.find('\n', row + 1) - row - 1);
    EXPECT_NE(line.find("%"), std::string::npos) << line;
    EXPECT_NE(line.find("   100 "), std::string::npos) << line;
  }
  for (const std::string& name : skipped) {
    const size_t row = ran.out.find("\ncompel/stack  " + name + params + " ");
    ASSERT_NE(row, std::string::npos) << name << "\n" << ran.out;
    const std::string line = ran.out.substr(row + 1, ran.out.find('\n', row + 1) - row - 1);
    EXPECT_NE(line.find("  skipped: "), std::string::npos) << line;
  }
  EXPECT_EQ(runs().size(), offered.size());
}

TEST_F(Cli, AnImpossiblePlacementIsAUsageError) {
  Ran ran = run({"selftest/noop", "--placement", "cross-numa"});
  EXPECT_EQ(ran.code, 2) << describe(ran);
  EXPECT_NE(ran.err.find("placement cross-numa is not possible on this machine: this machine has"),
            std::string::npos)
      << describe(ran);
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(Cli, DryRunAndForeignTopologiesOnlyPrintThePlan) {
  Ran dry = run({"selftest/noop", "--placement", "all", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << describe(dry);
  EXPECT_NE(dry.out.find("plan on this machine:"), std::string::npos) << dry.out;
  Ran simulated = run({"compel/stack", "--placement", "all", "-j", "4", "--topology", synthetic_machines::kDualEpyc7763});
  ASSERT_EQ(simulated.code, 0) << describe(simulated);
  EXPECT_NE(simulated.out.find("(SIMULATED: a dry run; nothing is pinned or run on this topology)"), std::string::npos)
      << simulated.out;
  EXPECT_NE(simulated.out.find("worker 3: victim=3,injector=67,writer=67"), std::string::npos) << simulated.out;
  EXPECT_NE(simulated.out.find("simulated: nothing was run or recorded"), std::string::npos) << simulated.out;
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(Cli, CampaignFileRunsItsEntriesWithTheirExpectations) {
  const fs::path file = dir_ / "c.toml";
  std::ofstream(file) << R"(trials = 30
keep_artifacts = "never"
[[run]]
scenario = "selftest/coin"
params = { p = [0, 0.5] }
expect = "flaky"
[[run]]
scenario = "selftest/noop"
)";
  Ran ran = run({"--campaign", file.string(), "--seed", "5"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("campaign: 3 cells to run, 0 skipped, seed 5"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("every cell behaved as expected"), std::string::npos) << ran.out;
  ASSERT_EQ(runs().size(), 3u);
  results::Store store(db_);
  EXPECT_EQ(store.run(1).info.invocation, store.run(3).info.invocation);
  EXPECT_EQ(store.run(2).info.params, "p=0.5");
  EXPECT_EQ(store.run(1).info.campaign_hash->size(), 16u);
  // -n on the command line overrides the file.
  Ran short_run = run({"--campaign", file.string(), "-n", "3"});
  ASSERT_EQ(short_run.code, 0) << describe(short_run);
  EXPECT_EQ(results::Store(db_).summarize(4).trials, 3);

  std::ofstream(file) << "[[run]]\nscenario = \"selftest/noop\"\nexpect = pass\n";
  Ran bad = run({"--campaign", file.string()});
  EXPECT_EQ(bad.code, 2) << describe(bad);
  EXPECT_NE(bad.err.find(file.string() + ":3:10: "), std::string::npos) << describe(bad);
}

// `report` and its JUnit say what `run` said: an expected-flaky cell that fails every trial is
// fine, a must-pass cell that fails once is not.
TEST_F(Cli, ReportsFollowTheRunsVerdict) {
  const fs::path file = dir_ / "c.toml";
  std::ofstream(file) << R"(trials = 40
keep_artifacts = "never"
[[run]]
scenario = "selftest/coin"
params = { p = 1 }
expect = "flaky"
[[run]]
scenario = "selftest/noop"
)";
  Ran ran = run({"--campaign", file.string(), "--seed", "5"});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("every cell behaved as expected"), std::string::npos) << ran.out;
  const std::string xml = (dir_ / "ok.xml").string();
  Ran junit = flakelab({"report", "--db", db_, "--format", "junit", "-o", xml});
  EXPECT_EQ(junit.code, 0) << describe(junit);
  EXPECT_EQ(flakelab({"report", "--db", db_}).code, 0);
  std::string text = slurp(xml);
  EXPECT_NE(text.find("failures=\"0\""), std::string::npos) << text;
  EXPECT_EQ(text.find("<failure"), std::string::npos) << text;
  EXPECT_NE(text.find("<flakyFailure message=\"expected flaky: 40 of 40"), std::string::npos) << text;

  // A must-pass cell failing a few times in many: red in run, report and JUnit alike.
  Ran must = run({"selftest/coin", "-n", "200", "--param", "p=0.02", "--seed", "7"});
  ASSERT_EQ(must.code, 1) << describe(must);
  EXPECT_EQ(flakelab({"report", "--db", db_}).code, 1);
  Ran red = flakelab({"report", "--db", db_, "--format", "junit", "-o", xml});
  EXPECT_EQ(red.code, 1) << describe(red);
  text = slurp(xml);
  EXPECT_NE(text.find("tests=\"3\" failures=\"1\""), std::string::npos) << text;
  EXPECT_NE(text.find("<failure message=\"UNEXPECTED: must not fail"), std::string::npos) << text;
}

TEST_F(Cli, CompareSaysWhetherTheFixWorked) {
  ASSERT_EQ(run({"selftest/coin", "-n", "200", "--param", "p=0.3", "--seed", "1"}).code, 1);
  ASSERT_EQ(run({"selftest/coin", "-n", "200", "--param", "p=0", "--seed", "1"}).code, 0);
  Ran ran = flakelab({"compare", "1", "2", "--db", db_});
  ASSERT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("B (run 2): 0/200 (< 1.49%)"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("Fisher's exact test (two-sided): p = "), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("B fails less than A: the difference is significant"), std::string::npos) << ran.out;
  Ran same = flakelab({"compare", "1", "1", "--db", db_});
  EXPECT_NE(same.out.find("p = 1; no significant difference at 5%"), std::string::npos) << same.out;
  Ran missing = flakelab({"compare", "1", "9", "--db", db_});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no run 9"), std::string::npos) << describe(missing);
}

TEST_F(Cli, KeepHungLeavesTheTrialStoppedUntilInterrupted) {
  pid_t pid = spawn({"run", "selftest/noop", "-n", "3", "--param", "sleep_ms=20000", "--timeout", "300ms", "--keep-hung",
                     "--db", db_});
  // Wait for the message naming the stopped trial process.
  pid_t trial = 0;
  for (int i = 0; i < 100 && trial == 0; ++i) {
    ::usleep(100 * 1000);
    const std::string err = slurp(dir_ / "stderr");
    const std::string key = "trial process ";
    const size_t at = err.find(key);
    if (at != std::string::npos) trial = std::stoi(err.substr(at + key.size()));
  }
  ASSERT_NE(trial, 0) << slurp(dir_ / "stderr");
  const std::string stat = slurp("/proc/" + std::to_string(trial) + "/stat");
  EXPECT_NE(stat.find(") T "), std::string::npos) << "stopped: " << stat;
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  Ran ran = finish(pid);
  EXPECT_EQ(ran.code, 128 + SIGINT) << describe(ran);
  EXPECT_FALSE(fs::exists("/proc/" + std::to_string(trial))) << "the kept trial is killed and reaped at the end";
  const auto trials = trials_of_last_run();
  ASSERT_EQ(trials.size(), 1u) << "no trial starts after a hung one is kept";
  EXPECT_EQ(trials[0].outcome, Outcome::kTimeout);
  EXPECT_NE(trials[0].message.find("left stopped for a debugger (--keep-hung): pids " + std::to_string(trial)),
            std::string::npos)
      << trials[0].message;
}

TEST_F(Cli, HelpListsTheNewVerbsAndFlags) {
  Ran help = flakelab({"run", "--help"});
  for (const char* flag : {"--placement", "--campaign", "-j", "--max-time", "--until-failures", "--keep-hung",
                           "--keep-artifacts", "--failure", "--ignore", "--noise", "--jitter", "--topology",
                           "--dry-run", "--share-pus", "--fresh-namespaces"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
  Ran top = flakelab({"--help"});
  for (const char* verb : {"topo", "compare"}) EXPECT_NE(top.out.find(verb), std::string::npos) << verb;
}

}  // namespace
}  // namespace flakelab::harness
