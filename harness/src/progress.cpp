#include "flakelab/harness/progress.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::ceil(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::chrono::milliseconds progress_interval_from_env() {
  const char* text = std::getenv(kProgressIntervalEnv);
  if (text == nullptr) return kDefaultProgressInterval;
  const auto interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration_arg(kProgressIntervalEnv, text));
  if (interval.count() <= 0) {
    throw UsageError(fmt::format("{} '{}': the progress interval must be at least 1ms", kProgressIntervalEnv, text));
  }
  return interval;
}

std::string format_progress(const RunProgress& p) {
  // The elapsed time is printed rounded down, so a line at 5 s reads 0:05.
  const auto elapsed = static_cast<int64_t>(std::max(0.0, p.elapsed_s));
  const double per_s = p.elapsed_s > 0 ? static_cast<double>(p.done) / p.elapsed_s : 0;
  const int decimals = per_s >= 10 || per_s == 0 ? 0 : per_s >= 1 ? 1 : 2;  // slow scenarios: 0.25 trials/s
  std::string line = fmt::format("{}:{:02} cells {}/{}, {}/{} trials, {:.{}f} trials/s, {} failed", elapsed / 60,
                                 elapsed % 60, p.cells_done, p.cells, p.done, p.total, per_s, decimals, p.failing);
  if (p.errors > 0) line += fmt::format(", {} error{}", p.errors, p.errors == 1 ? "" : "s");
  if (per_s > 0 && p.done < p.total) {
    double eta = static_cast<double>(p.total - p.done) / per_s;
    if (p.budget_left_s) eta = std::min(eta, *p.budget_left_s);
    line += ", ETA " + clock_text(eta);
  }
  return line;
}

void print_progress(std::FILE* out, const RunProgress& progress) {
  fmt::print(out, "{}\n", format_progress(progress));
  std::fflush(out);
}

}  // namespace flakelab::harness
