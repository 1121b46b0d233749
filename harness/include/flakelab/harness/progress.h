// Progress of a run on stderr: on a terminal, one status line rewritten in place (done/
// total, trials/s, failures, current rate with its 95% interval, ETA); otherwise one plain
// line every few seconds, CI-log friendly.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace flakelab::harness {

struct ProgressState {
  int64_t done = 0;
  int64_t total = 0;
  int64_t failing = 0;
  double elapsed_s = 0;
  std::optional<double> budget_left_s;  // --max-time share left, caps the ETA
};

// "compel/infect: 400/1000, 1650 trials/s, 3 failed, rate 0.75% (0.26%..2.2%), ETA 0:01"
std::string format_progress(const std::string& label, const ProgressState& state);

class Progress {
 public:
  // `tty`: rewrite one line (default: whether `out` is a terminal).
  Progress(std::string label, std::FILE* out, std::optional<bool> tty = std::nullopt);
  void update(const ProgressState& state);
  // Prints the last state once more (a final newline on a terminal), if anything was printed.
  void finish(const ProgressState& state);

 private:
  void print(const ProgressState& state, bool final);

  std::string label_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point last_;
  bool printed_ = false;
};

}  // namespace flakelab::harness
