// `flakelab run`: trials of scenarios (or a campaign file), recorded and summarized.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iterator>
#include <fmt/core.h>
#include <memory>
#include <optional>
#include <string_view>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

// Copies an option's value into `target` only if it was given (RunOptions tells "not
// given" from any value, so a campaign file's value is not overridden by a default).
template <typename T>
void given(const CLI::Option* option, const T& value, std::optional<T>& target) {
  if (option->count() > 0) target = value;
}

class RunVerb final : public Verb {
 public:
  std::string name() const override { return "run"; }
  std::string description() const override {
    return "run trials of scenarios (or a campaign file), record them, summarize";
  }

  void declare(CLI::App& verb) override {
    verb.add_option("scenarios", options_.scenarios,
                    "scenario names, see `flakelab scenarios`; `cmd -- PROGRAM ARGS...` runs any command");
    verb.add_option("--campaign", options_.campaign, "TOML campaign file (scenarios, parameter grids, placements)");
    trials_opt_ = add_integer_option(verb, "-n,--trials", trials_, "trials per cell (default 100)");
    verb.add_option("--cpus", options_.cpus, "pin roles to CPUs: victim=A,injector=B[,writer=C] (placement 'cpus')");
    placement_opt_ = verb.add_option(
        "--placement", placement_,
        "same-pu, smt-siblings, same-core, same-l3, cross-l3, cross-numa, unpinned, random; a comma list, or all "
        "(default unpinned)");
    verb.add_option("-p,--param", options_.params, "scenario parameter NAME=VALUE (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    verb.add_option("--engine-cli", engine_cli_,
                    "checkpoint with this CRIU-compatible CLI (e.g. criu, or flakelab): sets --param engine=cli "
                    "engine_cli=PATH for C/R scenarios (cr/*, scm*, zdtm)");
    db_opt_ = verb.add_option("--db", db_, "SQLite database file (default flakelab.db)");
    seed_opt_ = add_integer_option(verb, "--seed", seed_, "run seed (default: random, printed)");
    jobs_opt_ = add_integer_option(verb, "-j,--jobs", jobs_, "workers running trials at once, each on its own PUs");
    verb.add_flag("--share-pus", options_.share_pus, "let pinned workers share PUs");
    timeout_opt_ = verb.add_option("--timeout", timeout_,
                                   "how long a trial may take before SIGABRT, then SIGKILL: a duration (default 10s)");
    max_time_opt_ = verb.add_option("--max-time", max_time_, "wall-time budget of the whole run: a duration such as 90s, 10m, 1h");
    until_opt_ = add_integer_option(verb, "--until-failures", until_failures_, "stop a cell after K failing trials");
    verb.add_flag("--keep-hung", options_.keep_hung,
                  "leave a timed-out trial stopped (SIGSTOP) for a debugger, print its pids, and wait");
    verb.add_flag("--fresh-namespaces", options_.fresh_namespaces,
                  "new pid/mount/net namespaces for every trial (default: one set per worker, cleaned between trials)");
    keep_opt_ = verb.add_option("--keep-artifacts", keep_artifacts_, "keep trial directories: failed (default), always, never");
    artifacts_opt_ = verb.add_option("--artifacts-dir", artifacts_dir_,
                                     "where kept trial directories go (default: flakelab-artifacts beside the database)");
    verb.add_option("--failure", options_.failure, "a fail whose message matches none of these REGEXes is an error")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    verb.add_option("--ignore", options_.ignore, "a non-pass trial whose message matches REGEX is recorded as pass")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    noise_opt_ = verb.add_option("--noise", noise_,
                                 "noise processes: KIND@WHERE,... (spin|cache|syscall @ smt-sibling|same-l3|other-l3)");
    jitter_opt_ = verb.add_option("--jitter", jitter_, "random delays at the scenario's points: MAX or POINT=MAX,... (e.g. 500us)");
    expect_opt_ = verb.add_option("--expect", expect_,
                                  "pass: every trial must pass (default); flaky: failures are expected and reported, "
                                  "exit 0 unless a trial timed out or erred");
    verb.add_flag("--spread", options_.spread,
                  "cmd: the command's threads go round-robin over the placement's PUs as they appear");
    verb.add_option("--topology", options_.topology,
                    "plan against another machine (hwloc XML file or synthetic description): a dry run");
    verb.add_flag("--dry-run", options_.dry_run, "print the plan (cells, PUs per worker, skipped placements) and exit");
    shard_opt_ = verb.add_option("--shard", shard_, "run shard I of N of the campaign (I/N; needs --campaign and a seed)");
    verb.add_option("--shard-group", options_.shard_group,
                    "which sharded execution this shard belongs to (e.g. a CI runner label)");
  }

  int execute(const Invocation& invocation) override { return run_command(collect(invocation)); }
  bool takes_command() const override { return true; }

  // The options as given on `invocation`'s command line (after parsing).
  RunOptions collect(const Invocation& invocation) {
    given(trials_opt_, trials_, options_.trials);
    given(placement_opt_, placement_, options_.placement);
    given(db_opt_, db_, options_.db);
    given(seed_opt_, seed_, options_.seed);
    given(jobs_opt_, jobs_, options_.jobs);
    if (timeout_opt_->count() > 0) options_.timeout_s = parse_seconds_arg("--timeout", timeout_);
    given(max_time_opt_, max_time_, options_.max_time);
    given(until_opt_, until_failures_, options_.until_failures);
    given(keep_opt_, keep_artifacts_, options_.keep_artifacts);
    given(artifacts_opt_, artifacts_dir_, options_.artifacts_dir);
    given(noise_opt_, noise_, options_.noise);
    given(jitter_opt_, jitter_, options_.jitter);
    given(shard_opt_, shard_, options_.shard);
    given(expect_opt_, expect_, options_.expect);
    split_command(invocation);
    if (!engine_cli_.empty()) add_engine_cli_params(engine_cli_, options_.params);
    options_.command_line = quote_command_line(invocation.argc, invocation.argv);
    return options_;
  }

 private:
  // The words after `--` are cmd's command (main() keeps them from CLI11).
  void split_command(const Invocation& invocation) {
    if (!invocation.has_dashes) return;
    if (invocation.after_dashes.empty()) {
      throw UsageError("nothing after `--`: give the command, `flakelab run cmd -- PROGRAM ARGS...`");
    }
    options_.command = invocation.after_dashes;
  }

  RunOptions options_;
  int64_t trials_ = 0, until_failures_ = 0;
  uint64_t seed_ = 0;
  int jobs_ = 1;
  std::string engine_cli_;
  std::string placement_, timeout_, db_, max_time_, keep_artifacts_, artifacts_dir_, noise_, jitter_, shard_, expect_;
  CLI::Option *trials_opt_ = nullptr, *placement_opt_ = nullptr, *db_opt_ = nullptr, *seed_opt_ = nullptr,
              *jobs_opt_ = nullptr, *timeout_opt_ = nullptr, *max_time_opt_ = nullptr, *until_opt_ = nullptr,
              *keep_opt_ = nullptr, *artifacts_opt_ = nullptr, *noise_opt_ = nullptr, *jitter_opt_ = nullptr,
              *shard_opt_ = nullptr, *expect_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_run_verb() { return std::make_unique<RunVerb>(); }

RunOptions parse_run_arguments(const std::vector<std::string>& args) {
  CLI::App app{"flakelab run"};
  RunVerb verb;
  verb.declare(app);
  std::vector<std::string> words{"flakelab", "run"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  Invocation invocation{static_cast<int>(argv.size()), argv.data(), {}, false};
  const auto dashes = std::find(args.begin(), args.end(), "--");
  if (dashes != args.end()) {
    invocation.has_dashes = true;
    invocation.after_dashes.assign(dashes + 1, args.end());
  }
  try {
    app.parse(std::vector<std::string>(std::make_reverse_iterator(dashes), args.rend()));
  } catch (const CLI::ParseError& e) {
    throw UsageError(fmt::format("`flakelab run {}` does not parse: {}", quote_command_line(args), e.what()));
  }
  return verb.collect(invocation);
}

}  // namespace flakelab::harness
