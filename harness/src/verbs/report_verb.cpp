// `flakelab report`: the summary of one run or of all runs, or a formatted triage report.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/report_command.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

class ReportVerb final : public Verb {
 public:
  std::string name() const override { return "report"; }
  std::string description() const override { return "print the summary of one run or of all runs"; }
  void declare(CLI::App& verb) override {
    verb.add_option("--db", db_, "SQLite database file")->capture_default_str();
    run_option_ = add_integer_option(verb, "--run", run_, "run id (default: all)");
    since_option_ =
        verb.add_option("--since", since_, "only runs started at or after this date (2026-11-23[T20:00:00]) or epoch ms");
    format_option_ = verb.add_option("--format", format_, "text | json | junit | html | markdown (the triage report)");
    output_option_ = verb.add_option("-o,--output", output_, "write the report to FILE");
  }
  int execute(const Invocation&) override {
    std::optional<int64_t> run_id;
    if (run_option_->count() > 0) run_id = run_;
    if (format_option_->count() == 0 && since_option_->count() == 0 && output_option_->count() == 0) {
      return report_command(db_, run_id);  // the per-run summaries `run` prints
    }
    ReportRequest request;
    request.db_path = db_;
    request.run_id = run_id;
    if (since_option_->count() > 0) request.since = since_;
    request.format = format_;
    if (output_option_->count() > 0) request.output = output_;
    return formatted_report_command(request);
  }

 private:
  std::string db_ = "flakelab.db";
  int64_t run_ = 0;
  std::string since_, format_ = "text", output_;
  CLI::Option *run_option_ = nullptr, *since_option_ = nullptr, *format_option_ = nullptr, *output_option_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_report_verb() { return std::make_unique<ReportVerb>(); }

}  // namespace flakelab::harness
