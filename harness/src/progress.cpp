#include "flakelab/harness/progress.h"

#include <fmt/core.h>
#include <unistd.h>

namespace flakelab::harness {
namespace {

constexpr std::chrono::milliseconds kTtyInterval{200};
constexpr std::chrono::seconds kPlainInterval{5};

}  // namespace

Progress::Progress(std::string label, int64_t total, std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      tty_(::isatty(::fileno(out)) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::update(int64_t done, int64_t failed) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = tty_ ? std::chrono::duration_cast<std::chrono::milliseconds>(kTtyInterval)
                             : std::chrono::duration_cast<std::chrono::milliseconds>(kPlainInterval);
  if (now - last_ < interval) return;
  last_ = now;
  print(done, failed, false);
}

void Progress::finish(int64_t done, int64_t failed) {
  if (printed_) print(done, failed, true);
}

void Progress::print(int64_t done, int64_t failed, bool final) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const std::string line = fmt::format("{}: {}/{} done, {} failed, {:.0f} trials/s", label_, done,
                                       total_, failed, rate);
  if (tty_) {
    fmt::print(out_, "\r{}\033[K{}", line, final ? "\n" : "");
  } else {
    fmt::print(out_, "{}\n", line);
  }
  std::fflush(out_);
  printed_ = true;
}

}  // namespace flakelab::harness
