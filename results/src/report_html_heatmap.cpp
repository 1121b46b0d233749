// The HTML report's placement x CPU heatmap: an HTML table rather than SVG, so that long
// placement labels and skip reasons wrap instead of being cut, and it sorts and filters like
// the other tables.
#include <fmt/format.h>

#include <iterator>
#include <map>
#include <set>
#include <variant>

#include "flakelab/results/rate_format.h"
#include "flakelab/results/reports.h"
#include "report_html_parts.h"
#include "report_text.h"

namespace flakelab::results::html {

using namespace report_detail;  // NOLINT: the renderers' shared text helpers

namespace {

// Rate bins: the rates that matter span four decades, so the steps are roughly logarithmic.
struct HeatBin {
  double below;  // rates < below fall in this bin (the first bin is exactly 0)
  const char* label;
};
constexpr HeatBin kBins[] = {{0, "0"}, {0.01, "< 1%"}, {0.05, "1-5%"}, {0.2, "5-20%"}, {0.5, "20-50%"}, {2, ">= 50%"}};

int bin_of(const Counts& counts) {
  if (counts.failing() == 0) return 0;
  const double rate = static_cast<double>(counts.failing()) / static_cast<double>(counts.trials);
  for (int b = 1; b < static_cast<int>(std::size(kBins)); ++b) {
    if (rate < kBins[b].below) return b;
  }
  return static_cast<int>(std::size(kBins)) - 1;
}

// What the square says about the verdict: a word, and the verdict's colour behind it.
std::string verdict_tag(Verdict verdict) {
  const char* text = "";
  switch (verdict) {
    case Verdict::kPassed: text = "pass"; break;
    case Verdict::kFlakyAsExpected: text = "flaky, expected"; break;
    case Verdict::kUnexpectedFailure: text = "UNEXPECTED"; break;
    case Verdict::kUnexpectedError: text = "UNEXPECTED error"; break;
    case Verdict::kNoTrials: text = "no trials"; break;
  }
  return fmt::format("<span class=\"tag\" style=\"background:{}\">{}</span>", verdict_color(verdict), text);
}

std::string rate_text(const Counts& counts) {
  if (counts.trials == 0) return "-";
  if (counts.errors == counts.trials) return "no rate";
  if (counts.failing() == 0) return "0%";
  return format_percent(static_cast<double>(counts.failing()) / static_cast<double>(counts.trials), Round::kNearest);
}

CellKey without_cpu(const CellKey& cell) { return {cell.scenario, cell.placement, cell.params, ""}; }

struct CpuLess {
  bool operator()(const std::string& a, const std::string& b) const { return natural_compare(a, b) < 0; }
};

}  // namespace

std::string heatmap_section(const ReportData& data) {
  using Square = std::variant<const CellRate*, const SkippedCellRow*>;
  std::map<CellKey, std::map<std::string, Square, CpuLess>> rows;  // cell without CPU -> CPU model -> square
  std::set<std::string, CpuLess> cpus;
  for (const CellRate& cell : data.cells) {
    rows[without_cpu(cell.cell)].emplace(cell.cell.cpu_model, &cell);
    cpus.insert(cell.cell.cpu_model);
  }
  for (const SkippedCellRow& row : data.skipped) {
    rows[without_cpu(row.cell)].emplace(row.cell.cpu_model, &row);
    cpus.insert(row.cell.cpu_model);
  }
  std::string out =
      "<h2>Placement &#215; CPU model</h2>\n<p>One row per scenario, parameters and placement, one column per CPU "
      "model. Each square is one cell: its failure rate (fail + timeout over trials), counts and verdict; the "
      "colour is the rate, a black frame and a red tag mark a cell that did not behave as expected. Hover a "
      "square for the 95% interval.</p>\n";
  if (rows.empty()) return out + "<p class=\"empty\">No cells.</p>\n";
  auto it = std::back_inserter(out);
  out += "<div class=\"scroll\"><table id=\"heatmap\" class=\"sortable heatmap\">\n<thead><tr><th>scenario</th><th>params</th>"
         "<th>placement</th>";
  for (const std::string& cpu : cpus) fmt::format_to(it, "<th data-type=\"num\">{}</th>", xml_escape(or_dash(cpu)));
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& [key, squares] : rows) {
    fmt::format_to(it, "<tr><td class=\"key\">{}</td><td>{}</td><td>{}</td>", xml_escape(or_dash(key.scenario)),
                   breakable(or_dash(key.params)), breakable(or_dash(key.placement)));
    for (const std::string& cpu : cpus) {
      const auto found = squares.find(cpu);
      if (found == squares.end()) {
        out += "<td class=\"heat none\" data-sort=\"-3\">not run</td>";
      } else if (const auto* skipped = std::get_if<const SkippedCellRow*>(&found->second)) {
        fmt::format_to(it, "<td class=\"heat skipped\" data-sort=\"-2\"><span class=\"tag\">skipped</span> {}</td>",
                       xml_escape((*skipped)->reason));
      } else {
        const CellRate& cell = *std::get<const CellRate*>(found->second);
        const bool rated = cell.counts.trials > cell.counts.errors;
        fmt::format_to(it,
                       "<td class=\"heat h{}{}\" data-sort=\"{}\" title=\"{}: {}\"><span class=\"rate\">{}</span> "
                       "<span class=\"counts\">{}</span> {}</td>",
                       rated ? bin_of(cell.counts) : 0, as_expected(cell.verdict) ? "" : " unexpected",
                       rated ? fmt::format("{:.9f}", cell.rate) : "-1", xml_escape(cell_label(cell.cell)),
                       html_rate(cell.counts, cell.rate, cell.wilson_low, cell.wilson_high, cell.upper_bound),
                       rate_text(cell.counts), counts_note(cell.counts), verdict_tag(cell.verdict));
      }
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table></div>\n<p class=\"legend\">Rate:";
  for (int b = 0; b < static_cast<int>(std::size(kBins)); ++b) {
    fmt::format_to(it, "<span class=\"swatch h{}\"></span>{} ", b, kBins[b].label);
  }
  out += "<span class=\"swatch skipped\"></span>skipped on its machine</p>\n";
  return out;
}

}  // namespace flakelab::results::html
