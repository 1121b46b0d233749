// Text rendering of run summaries.
#include "flakelab/results/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string_view>

#include "flakelab/results/rate_format.h"

namespace flakelab::results {
namespace {

std::string_view or_dash(const std::string& text) {
  // Not a ?: expression: its common type would be a temporary std::string.
  if (text.empty()) return "-";
  return text;
}

// One line per message: control characters (newlines from multi-line logs) become spaces,
// and long messages are cut without splitting a UTF-8 sequence.
std::string one_line(const std::string& message, std::size_t max_bytes) {
  if (message.empty()) return "(no message)";
  std::string line;
  line.reserve(std::min(message.size(), max_bytes) + 3);
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    line.push_back(byte < 0x20 || byte == 0x7f ? ' ' : c);
  }
  if (line.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line.resize(cut);
    line += "...";
  }
  return line;
}

}  // namespace

std::string format_summary_text(const RunSummary& summary) {
  return format_summary_text(summary, TextReportOptions{});
}

std::string format_summary_text(const RunSummary& s, const TextReportOptions& options) {
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "run {}  {}  {}  placement {}\n", s.run_id, or_dash(s.scenario),
                 or_dash(s.params), or_dash(s.placement));
  fmt::format_to(it, "  trials {}  pass {}  fail {}  timeout {}  error {}\n", s.trials, s.passes,
                 s.failures, s.timeouts, s.errors);
  if (s.trials <= 0) {
    fmt::format_to(it, "  no trials recorded; failure rate unknown\n");
  } else if (s.failures + s.timeouts == 0) {
    fmt::format_to(it, "  0 failures; rate < {} at 95% (upper bound 1-0.05^(1/{}))\n",
                   format_percent(zero_failure_upper_bound(s.trials, 0.95), Round::kUp), s.trials);
  } else {
    fmt::format_to(it, "  failure rate {}  (95% Wilson {} .. {})\n", format_percent(s.rate, Round::kNearest),
                   format_percent(s.wilson_low, Round::kDown), format_percent(s.wilson_high, Round::kUp));
  }

  if (options.show_messages && !s.messages.empty()) {
    int64_t widest = 0;
    for (const MessageCount& m : s.messages) widest = std::max(widest, m.count);
    const std::size_t width = std::max<std::size_t>(6, fmt::formatted_size("{}", widest));
    const std::size_t shown = std::min(options.max_messages, s.messages.size());
    fmt::format_to(it, "  messages:\n");
    for (std::size_t i = 0; i < shown; ++i) {
      fmt::format_to(it, "  {:>{}}  {}\n", s.messages[i].count, width,
                     one_line(s.messages[i].message, options.max_message_bytes));
    }
    if (shown < s.messages.size()) {
      int64_t rest = 0;
      for (std::size_t i = shown; i < s.messages.size(); ++i) rest += s.messages[i].count;
      fmt::format_to(it, "  {:>{}}  ({} more distinct messages)\n", rest, width,
                     s.messages.size() - shown);
    }
  }
  if (options.show_signatures && !s.signatures.empty()) {
    int64_t widest = 0;
    for (const SignatureCount& sig : s.signatures) widest = std::max(widest, sig.count);
    const std::size_t width = std::max<std::size_t>(6, fmt::formatted_size("{}", widest));
    const std::size_t shown = std::min(options.max_messages, s.signatures.size());
    fmt::format_to(it, "  signatures:\n");
    for (std::size_t i = 0; i < shown; ++i) {
      fmt::format_to(it, "  {:>{}}  {}  {}\n", s.signatures[i].count, width, s.signatures[i].hash,
                     one_line(s.signatures[i].normalized, options.max_message_bytes));
    }
    if (shown < s.signatures.size()) {
      int64_t rest = 0;
      for (std::size_t i = shown; i < s.signatures.size(); ++i) rest += s.signatures[i].count;
      fmt::format_to(it, "  {:>{}}  ({} more signatures)\n", rest, width, s.signatures.size() - shown);
    }
  }
  return out;
}

}  // namespace flakelab::results
