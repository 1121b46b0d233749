#include "flakelab/harness/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "flakelab/results/rate_format.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

constexpr std::chrono::milliseconds kTtyInterval{200};
constexpr std::chrono::seconds kPlainInterval{5};

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::ceil(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string format_progress(const std::string& label, const ProgressState& state) {
  const double per_s = state.elapsed_s > 0 ? static_cast<double>(state.done) / state.elapsed_s : 0;
  std::string line = fmt::format("{}: {}/{}, {:.0f} trials/s, {} failed", label, state.done, state.total, per_s,
                                 state.failing);
  if (state.done > 0) {
    const auto wilson = results::wilson_interval(state.failing, state.done);
    line += fmt::format(", rate {} ({})", results::format_rate(state.failing, state.done),
                        results::format_interval(wilson, ".."));
  }
  if (per_s > 0 && state.done < state.total) {
    double eta = static_cast<double>(state.total - state.done) / per_s;
    if (state.budget_left_s) eta = std::min(eta, *state.budget_left_s);
    line += ", ETA " + clock_text(eta);
  }
  return line;
}

Progress::Progress(std::string label, std::FILE* out, std::optional<bool> tty)
    : label_(std::move(label)),
      out_(out),
      tty_(tty.value_or(::isatty(::fileno(out)) == 1)),
      last_(std::chrono::steady_clock::now()) {}

void Progress::update(const ProgressState& state) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = tty_ ? std::chrono::duration_cast<std::chrono::milliseconds>(kTtyInterval)
                             : std::chrono::duration_cast<std::chrono::milliseconds>(kPlainInterval);
  if (now - last_ < interval) return;
  last_ = now;
  print(state, false);
}

void Progress::finish(const ProgressState& state) {
  if (printed_) print(state, true);
}

void Progress::print(const ProgressState& state, bool final) {
  const std::string line = format_progress(label_, state);
  if (tty_) {
    fmt::print(out_, "\r{}\033[K{}", line, final ? "\n" : "");
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
  printed_ = true;
}

}  // namespace flakelab::harness
