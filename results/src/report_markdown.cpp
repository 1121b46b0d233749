// The triage report as GitHub-flavoured Markdown, for CI job summaries.
#include <fmt/format.h>

#include <algorithm>

#include "flakelab/results/reports.h"
#include "text_util.h"

namespace flakelab::results {
namespace {

using detail::percent;
using detail::Round;

// One table cell: no line breaks, '|' and backslashes escaped, cut to `max_bytes`.
std::string md_cell(std::string_view text, std::size_t max_bytes = 200) {
  std::string out;
  for (char c : text.substr(0, max_bytes)) {
    if (c == '\n' || c == '\r' || c == '\t') out += ' ';
    else if (c == '|' || c == '\\' || c == '`' || c == '<' || c == '>' || c == '*' || c == '_') {
      out += '\\';
      out += c;
    } else out += c;
  }
  if (text.size() > max_bytes) out += "...";
  return out.empty() ? "-" : out;
}

std::string md_rate(const CellRate& cell) {
  if (cell.counts.trials == 0) return "no trials";
  if (cell.counts.failing() == 0) return "0 (< " + percent(cell.upper_bound, Round::kUp) + ")";
  return fmt::format("{} ({} .. {})", percent(cell.rate, Round::kNearest), percent(cell.wilson_low, Round::kNearest),
                     percent(cell.wilson_high, Round::kNearest));
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
