#include "flakelab/harness/zdtm_suite_command.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/zdtm_desc.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;

// An ELF binary or a script (zdtm.py runs every executable file but .hook/.checkskip).
bool is_test_program(const fs::path& path) {
  std::error_code ec;
  if (fs::is_symlink(path, ec) || !fs::is_regular_file(path, ec) || ::access(path.c_str(), X_OK) != 0) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return false;
  return (magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F') || (magic[0] == '#' && magic[1] == '!');
}

// The static tests CRIU's test/zdtm.desc excludes ('static/route_rules', ...).
std::vector<std::string> excluded_by_checkout(const std::string& src) {
  std::vector<std::string> names;
  std::ifstream in(fs::path(src) / "test/zdtm.desc");
  std::stringstream text;
  text << in.rdbuf();
  const std::string desc = text.str();
  static const std::regex entry("'static/([^']+)'");
  for (auto it = std::sregex_iterator(desc.begin(), desc.end(), entry); it != std::sregex_iterator(); ++it)
    names.push_back((*it)[1]);
  return names;
}

std::string test_dir_of(const std::string& src) {
  std::error_code ec;
  const fs::path checkout = fs::path(src) / "test/zdtm/static";
  if (fs::is_directory(checkout, ec)) return checkout.string();
  if (fs::is_directory(src, ec)) return src;
  throw UsageError(fmt::format("--src {}: not a directory (a CRIU checkout, whose test/zdtm/static holds the built tests)", src));
}

struct SuiteTest {
  std::string name;
  std::string path;
  std::string skipped;  // why, if it does not run
  int timeout_s = 30;
};

}  // namespace

std::vector<std::string> list_zdtm_tests(const std::string& dir) {
  std::vector<std::string> tests;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".hook") || name.ends_with(".checkskip") || name.ends_with(".so")) continue;
    if (is_test_program(entry.path())) tests.push_back(entry.path().string());
  }
  if (ec) throw UsageError(fmt::format("--src: cannot list {}: {}", dir, ec.message()));
  std::sort(tests.begin(), tests.end());
  return tests;
}

int zdtm_suite_command(const ZdtmSuiteOptions& options) {
  if (options.trials < 1) throw UsageError(fmt::format("-n {}: at least 1 trial per test", options.trials));
  const std::string dir = test_dir_of(options.src);
  std::optional<std::regex> only;
  if (!options.only.empty()) {
    try {
      only.emplace(options.only);
    } catch (const std::regex_error& e) {
      throw UsageError(fmt::format("--only '{}': {}", options.only, e.what()));
    }
  }
  const std::vector<std::string> excluded = excluded_by_checkout(options.src);
  std::vector<SuiteTest> tests;
  for (const std::string& path : list_zdtm_tests(dir)) {
    SuiteTest test{.name = fs::path(path).filename().string(), .path = path, .skipped = "", .timeout_s = 30};
    if (only && !std::regex_search(test.name, *only)) continue;
    if (std::find(excluded.begin(), excluded.end(), test.name) != excluded.end()) continue;
    try {
      const scenarios::zdtm::ZdtmDesc desc = scenarios::zdtm::read_zdtm_desc(path);
      test.timeout_s = desc.timeout_s;
      // zdtm.py's "run all" leaves these out too.
      if (desc.has_flag("noauto")) test.skipped = "manual run only (noauto)";
    } catch (const std::invalid_argument& e) {
      test.skipped = e.what();
    }
    tests.push_back(std::move(test));
  }
  if (tests.empty()) throw UsageError(fmt::format("--src {}: no built zdtm tests in {}", options.src, dir));

  CampaignSpec spec;
  spec.db = options.db;
  spec.seed = options.seed ? *options.seed : random_run_seed();
  spec.jobs = options.jobs;
  spec.command_line = options.command_line;
  // A failing test keeps its trial directory: its out file, the engine's output and
  // log, the images (sockets and FIFOs a test leaves there are not copied).
  spec.keep_artifacts = KeepArtifacts::kFailed;
  std::vector<std::string> engine;
  if (!options.engine_cli.empty()) add_engine_cli_params(options.engine_cli, engine);
  for (const SuiteTest& test : tests) {
    if (!test.skipped.empty()) continue;
    EntrySpec entry;
    entry.scenario = "zdtm";
    entry.params.push_back({"test", {test.path}});
    for (const std::string& assignment : engine) {
      const size_t eq = assignment.find('=');
      entry.params.push_back({assignment.substr(0, eq), {assignment.substr(eq + 1)}});
    }
    entry.trials = options.trials;
    // The test's own waits use its .desc timeout; dump and restore come on top.
    entry.timeout_s = 2.0 * test.timeout_s + 10;
    spec.entries.push_back(std::move(entry));
  }
  if (spec.entries.empty()) throw UsageError(fmt::format("--src {}: every test is manual-run-only (noauto)", options.src));

  const Topology topology;
  const CampaignPlan plan = plan_campaign(spec, topology);
  fmt::print("zdtm-suite: {} tests in {}, {} to run x{}, engine {}, seed {}, db {}\n", tests.size(), dir,
             plan.cells.size(), options.trials, options.engine_cli.empty() ? "library" : options.engine_cli, plan.seed,
             spec.db);
  std::fflush(stdout);
  install_interrupt_handlers();
  int64_t passed = 0, failed = 0;
  results::Store store(spec.db);
  RunHooks hooks;
  hooks.on_cell_end = [&](const CellResult& cell) {
    const std::string name = fs::path(cell.plan->params.at("test")).filename().string();
    const bool ok = cell.passes == cell.trials && cell.trials > 0;
    (ok ? passed : failed) += 1;
    std::string why;
    if (!ok) {
      const results::RunSummary summary = store.summarize(cell.run_id);
      if (!summary.messages.empty()) why = "  " + summary.messages.front().message;
    }
    fmt::print("{:<6} {:<32} {}/{} passed{}\n", ok ? "PASS" : "FAIL", name, cell.passes, cell.trials, why);
    if (!ok && !cell.artifacts_dir.empty()) fmt::print("{:<6} {:<32} artifacts: {}\n", "", "", cell.artifacts_dir);
    std::fflush(stdout);
  };
  const CampaignResult result = run_campaign(plan, topology, hooks);

  int64_t skipped = 0;
  for (const SuiteTest& test : tests) {
    if (test.skipped.empty()) continue;
    fmt::print("{:<6} {:<32} {}\n", "SKIP", test.name, test.skipped);
    ++skipped;
  }
  for (const PlannedCell& cell : plan.skipped) {
    fmt::print("{:<6} {:<32} {}\n", "SKIP", fs::path(cell.params.at("test")).filename().string(),
               cell.placement.skip_reason);
    ++skipped;
  }
  fmt::print("zdtm-suite: {} passed, {} failed, {} skipped of {} tests (engine {})\n", passed, failed, skipped,
             tests.size(), options.engine_cli.empty() ? "library" : options.engine_cli);
  if (int sig = interrupt_signal()) return 128 + sig;
  return failed == 0 && result.cells.size() == plan.cells.size() ? kExitOk : kExitTrialsFailed;
}

}  // namespace flakelab::harness
