// The triage report as GitHub-flavoured Markdown, for CI job summaries.
#include <fmt/format.h>

#include <algorithm>

#include "flakelab/results/reports.h"

#include "flakelab/results/rate_format.h"

namespace flakelab::results {
namespace {


// Length of the valid UTF-8 sequence at text[i], or 0 if it is not one.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  std::size_t n = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) n = 2;
  else if (b >= 0xE0 && b <= 0xEF) n = 3;
  else if (b >= 0xF0 && b <= 0xF4) n = 4;
  else return 0;
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// One table cell: one line (control characters become spaces, invalid UTF-8 U+FFFD), '|',
// backslashes and Markdown's emphasis/HTML characters escaped, cut to `max_bytes`.
std::string md_cell(std::string_view text, std::size_t max_bytes = 200) {
  std::string out;
  const std::string_view cut = text.substr(0, max_bytes);
  for (std::size_t i = 0; i < cut.size();) {
    const std::size_t n = utf8_length(cut, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(cut.substr(i, n));
      i += n;
      continue;
    }
    const char c = cut[i++];
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == '|' || c == '\\' || c == '`' || c == '<' || c == '>' || c == '*' || c == '_') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out.empty() ? "-" : out;
}

std::string md_rate(const CellRate& cell) {
  if (cell.counts.trials == 0) return "no trials";
  if (cell.counts.failing() == 0) return "0 (< " + format_percent(cell.upper_bound, Round::kUp) + ")";
  return fmt::format("{} ({} .. {})", format_percent(cell.rate, Round::kNearest), format_percent(cell.wilson_low, Round::kDown),
                     format_percent(cell.wilson_high, Round::kUp));
}

}  // namespace

std::string render_markdown(const ReportData& data) {
  std::string out;
  auto it = std::back_inserter(out);
  const Counts& t = data.totals;
  fmt::format_to(it, "## {}\n\n", md_cell(data.title));
  fmt::format_to(it, "{} runs, {} cells, {} trials: {} pass, {} fail, {} timeout, {} error; {} signatures\n\n",
                 data.runs.size(), data.cells.size(), t.trials, t.passes, t.failures, t.timeouts, t.errors,
                 data.signatures.size());
  // Failing cells first (highest rate first), then the clean ones in cell order.
  std::vector<const CellRate*> cells;
  for (const CellRate& cell : data.cells) cells.push_back(&cell);
  std::stable_sort(cells.begin(), cells.end(), [](const CellRate* a, const CellRate* b) {
    const bool fa = a->counts.failing() + a->counts.errors > 0;
    const bool fb = b->counts.failing() + b->counts.errors > 0;
    if (fa != fb) return fa;
    return fa && a->rate > b->rate;
  });
  out += "| scenario | placement | params | cpu | trials | failing | errors | rate (95%) |\n";
  out += "| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n";
  for (const CellRate* cell : cells) {
    fmt::format_to(it, "| {} | {} | {} | {} | {} | {} | {} | {} |\n", md_cell(cell->cell.scenario),
                   md_cell(cell->cell.placement), md_cell(cell->cell.params), md_cell(cell->cell.cpu_model),
                   cell->counts.trials, cell->counts.failing(), cell->counts.errors, md_rate(*cell));
  }
  const std::size_t shown = std::min(data.max_signatures, data.signatures.size());
  if (shown > 0) {
    out += "\n### Signatures\n\n| count | cells | hash | signature |\n| ---: | ---: | --- | --- |\n";
    for (std::size_t i = 0; i < shown; ++i) {
      const SignatureStats& s = data.signatures[i];
      fmt::format_to(it, "| {} | {} | {} | {} |\n", s.count, s.cells, s.hash,
                     md_cell(s.normalized, data.max_message_bytes));
    }
    if (shown < data.signatures.size()) {
      fmt::format_to(it, "\n({} more signatures in the HTML report)\n", data.signatures.size() - shown);
    }
  }
  return out;
}

}  // namespace flakelab::results
