// `flakelab rerun RUN TRIAL`: one recorded trial again, exactly (rerun_command.h).
#include <CLI/CLI.hpp>
#include <limits.h>
#include <unistd.h>

#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/rerun_command.h"
#include "flakelab/harness/run_command.h"

namespace flakelab::harness {
namespace {

class RerunVerb final : public Verb {
 public:
  std::string name() const override { return "rerun"; }
  std::string description() const override {
    return "run one recorded trial again (same seed, params, placement, jitter), optionally under --wrap";
  }

  void declare(CLI::App& verb) override {
    run_pos_ = verb.add_option("run", run_id_, "run id (see `flakelab report`)");
    trial_pos_ = verb.add_option("trial", trial_, "trial index within the run");
    run_opt_ = verb.add_option("--run", run_flag_, "run id (instead of the positional RUN)");
    trial_opt_ = verb.add_option("--trial", trial_flag_, "trial index (instead of the positional TRIAL)");
    verb.add_option("--db", options_.db, "SQLite database file")->capture_default_str();
    verb.add_option("--wrap", options_.wrap,
                    "wrapper command, shell syntax (e.g. 'strace -f -o trace.txt', 'perf record -g'): cmd runs "
                    "its command under it; a built-in scenario runs in flakelab's own process, so the whole "
                    "rerun is re-executed under it");
    verb.add_option("--keep-artifacts", options_.keep_artifacts, "keep the trial's directory: always (default), "
                                                                 "failed, never")
        ->capture_default_str();
    artifacts_opt_ = verb.add_option("--artifacts-dir", artifacts_dir_,
                                     "where the kept trial directory goes (default: flakelab-artifacts beside the "
                                     "database)");
  }

  int execute(const Invocation& invocation) override {
    if ((run_pos_->count() > 0) == (run_opt_->count() > 0)) {
      throw UsageError("give the run once: `flakelab rerun RUN TRIAL` or `flakelab rerun --run RUN --trial TRIAL`");
    }
    if ((trial_pos_->count() > 0) == (trial_opt_->count() > 0)) {
      throw UsageError("give the trial once: `flakelab rerun RUN TRIAL` or `flakelab rerun --run RUN --trial TRIAL`");
    }
    options_.run_id = run_opt_->count() > 0 ? run_flag_ : run_id_;
    options_.trial = trial_opt_->count() > 0 ? trial_flag_ : trial_;
    if (options_.trial < 0) throw UsageError("--trial: a trial index is 0 or more");
    if (artifacts_opt_->count() > 0) options_.artifacts_dir = artifacts_dir_;
    options_.command_line = quote_command_line(invocation.argc, invocation.argv);
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) throw os_error("readlink /proc/self/exe");
    options_.self_exe.assign(self, static_cast<size_t>(n));
    return rerun_command(options_);
  }

 private:
  RerunOptions options_;
  int64_t run_id_ = 0, trial_ = 0, run_flag_ = 0, trial_flag_ = 0;
  std::string artifacts_dir_;
  CLI::Option *run_pos_ = nullptr, *trial_pos_ = nullptr, *run_opt_ = nullptr, *trial_opt_ = nullptr,
              *artifacts_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_rerun_verb() { return std::make_unique<RerunVerb>(); }

}  // namespace flakelab::harness
