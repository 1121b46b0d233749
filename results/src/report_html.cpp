// Report renderer: a self-contained HTML page with inline SVG charts, summary verdict first.
// The page layout is described in results/REPORTS.md (HTML).
//
// The charts are drawn here rather than by a charting library (Vega-Lite would add ~1 MB of
// script to every page, from an npm tree the C++ build would need on a fresh clone): the page
// reads without script, is byte-identical for one database, and every label's box is computed
// here, so the headless-Chromium test can hold the page to "no clipped label".
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <compare>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "flakelab/results/machine_kind.h"
#include "flakelab/results/rate_format.h"
#include "flakelab/results/reports.h"
#include "flakelab/results/stats.h"
#include "report_html_parts.h"
#include "report_text.h"

namespace flakelab::results {

using namespace report_detail;  // NOLINT: the renderers' shared text helpers

namespace html {

const char* verdict_color(Verdict v) {
  switch (v) {
    case Verdict::kPassed:
      return "#1f77b4";
    case Verdict::kFlakyAsExpected:
      return "#ff7f0e";
    case Verdict::kUnexpectedFailure:
      return "#d62728";
    case Verdict::kUnexpectedError:
      return "#6a3d9a";
    case Verdict::kNoTrials:
      return "#999999";
  }
  return "#999999";
}

std::string plural(int64_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

std::string counts_note(const Counts& c) {
  if (c.trials == 0) return "no trials";
  if (c.errors == c.trials) return plural(c.errors, "error");
  std::string note = fmt::format("{}/{}", c.failing(), c.trials);
  if (c.timeouts > 0) note += fmt::format(" ({})", plural(c.timeouts, "timeout"));
  if (c.errors > 0) note += ", " + plural(c.errors, "error");
  return note;
}

std::string html_rate(const Counts& counts, double rate, double low, double high, double upper) {
  if (counts.trials == 0) return "no trials";
  if (counts.errors == counts.trials) return plural(counts.errors, "error") + ", no rate";
  if (counts.failing() == 0) return "&lt; " + format_percent(upper, Round::kUp) + " (95% upper bound)";
  return fmt::format("{} ({} .. {})", format_percent(rate, Round::kNearest), format_percent(low, Round::kDown),
                     format_percent(high, Round::kUp));
}

std::string engine_of(const CellKey& cell) {
  const auto engine = cell.param("engine");
  if (!engine) return {};
  if (*engine != "cli") return "flakelab " + *engine;
  const std::string version = cell.param("engine_version").value_or("");
  return fmt::format("cli {}{}", cell.param("engine_cli").value_or("?"), version.empty() ? "" : " (" + version + ")");
}

}  // namespace html

using namespace html;  // NOLINT: the page's parts share these helpers

namespace {

// Series colours (the runs-over-time chart, sweep curves).
constexpr const char* kColors[] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#d62728"};
constexpr std::size_t kColorCount = std::size(kColors);

// Chart text is monospace (DejaVu Sans Mono: 0.602 em per character), so margins computed from
// the longest label hold in any browser; a little slack covers fallback fonts.
constexpr double kLabelCharW = 7.6;  // 12px labels
constexpr double kSmallCharW = 7.0;  // 11px ticks, notes, legends

// Columns a string takes: one per code point, two for East Asian wide ranges.
double text_columns(std::string_view text) {
  double columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    columns += len >= 3 && lead >= 0xE1 ? 2 : 1;
    i += len;
  }
  return columns;
}

std::string num(double v) { return fmt::format("{:.1f}", v); }

// The smallest of 1, 2, 5 x 10^k at or above v (v > 0).
double nice_ceiling(double v) {
  if (!(v > 0)) return 1;
  const double exp = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * exp >= v * (1 - 1e-12)) return m * exp;
  }
  return 10 * exp;
}

std::string pct_label(double fraction) {
  const double pct = fraction * 100;
  if (pct == 0) return "0%";
  if (pct >= 1) return fmt::format("{:g}%", std::round(pct * 100) / 100);
  return fmt::format("{:.3g}%", pct);
}

// An HTML legend of the verdict colours, under the charts that use them.
std::string verdict_legend() {
  std::string out = "<p class=\"legend\">";
  for (Verdict v : {Verdict::kPassed, Verdict::kFlakyAsExpected, Verdict::kUnexpectedFailure,
                    Verdict::kUnexpectedError, Verdict::kNoTrials}) {
    out += fmt::format("<span class=\"swatch\" style=\"background:{}\"></span>{} ", verdict_color(v), describe(v));
  }
  return out + "</p>\n";
}

struct Bar {
  std::string label;
  double value = 0;
  std::optional<double> low;
  std::optional<double> high;
  std::string note;   // shown right of the bar
  std::string title;  // tooltip
  const char* color = kColors[0];
};

// Horizontal bars with optional interval whiskers; `as_percent` formats the axis. The label
// column is as wide as the longest label, so no label is cut or clipped.
std::string bar_chart(const std::string& id, const std::vector<Bar>& bars, bool as_percent) {
  constexpr double kPlotW = 420, kRowH = 22, kTop = 26, kBottom = 10, kPad = 12;
  double label_w = 60, note_w = 40;
  for (const Bar& b : bars) {
    label_w = std::max(label_w, text_columns(b.label) * kLabelCharW + kPad);
    note_w = std::max(note_w, text_columns(b.note) * kSmallCharW + kPad);
  }
  const double width = label_w + kPlotW + note_w + kPad;
  const double height = kTop + kRowH * static_cast<double>(bars.size()) + kBottom;
  double max = 0;
  for (const Bar& b : bars) max = std::max({max, b.value, b.high.value_or(0)});
  const double axis_max =
      as_percent ? std::min(1.0, nice_ceiling(std::max(max, 0.001))) : nice_ceiling(std::max(max, 1.0));
  auto x = [&](double v) { return label_w + kPlotW * v / axis_max; };
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
                 "viewBox=\"0 0 {} {}\" role=\"img\">\n",
                 id, num(width), num(height), num(width), num(height));
  for (int t = 0; t <= 4; ++t) {
    const double v = axis_max * t / 4;
    fmt::format_to(it,
                   "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"grid\"/>"
                   "<text x=\"{0}\" y=\"{3}\" class=\"tick\" text-anchor=\"{5}\">{4}</text>\n",
                   num(x(v)), num(kTop - 4), num(height - kBottom), num(kTop - 8),
                   as_percent ? pct_label(v) : fmt::format("{:g}", v), t == 4 ? "end" : "middle");
  }
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = kTop + kRowH * static_cast<double>(i);
    fmt::format_to(it, "<g class=\"bar\"><title>{}</title>", xml_escape(b.title.empty() ? b.label : b.title));
    fmt::format_to(it, "<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"end\">{}</text>", num(label_w - 6),
                   num(y + 15), xml_escape(b.label));
    fmt::format_to(it, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", num(label_w), num(y + 4),
                   num(std::max(0.0, x(b.value) - label_w)), num(kRowH - 8), b.color);
    if (b.low && b.high) {
      const double cy = y + kRowH / 2;
      fmt::format_to(it, "<path class=\"whisker\" d=\"M{0} {1}H{2}M{0} {3}V{4}M{2} {3}V{4}\"/>", num(x(*b.low)),
                     num(cy), num(x(*b.high)), num(cy - 6), num(cy + 6));
    }
    fmt::format_to(it, "<text x=\"{}\" y=\"{}\" class=\"note\">{}</text></g>\n", num(label_w + kPlotW + 8),
                   num(y + 15), xml_escape(b.note));
  }
  out += "</svg>\n";
  return out;
}

struct Point {
  double x = 0;
  double y = 0;
  std::optional<double> low;   // no interval without a rate (errors only)
  std::optional<double> high;
  Verdict verdict = Verdict::kPassed;
  std::string title;
};
struct Series {
  std::string name;
  std::vector<Point> points;  // sorted by x
};

// Maps x values to plot fractions: linear, or log10 when the values span more than two decades.
// A 0 on a log axis sits one decade left of the smallest positive value, labelled "0".
class XScale {
 public:
  explicit XScale(const std::vector<Series>& series) {
    bool first = true;
    for (const Series& s : series) {
      for (const Point& p : s.points) {
        min_ = first ? p.x : std::min(min_, p.x);
        max_ = first ? p.x : std::max(max_, p.x);
        if (p.x > 0) min_positive_ = min_positive_ ? std::min(*min_positive_, p.x) : p.x;
        first = false;
      }
    }
    log_ = min_ >= 0 && min_positive_ && max_ / *min_positive_ > 100;
    if (log_) {
      lo_ = std::floor(std::log10(*min_positive_));
      hi_ = std::ceil(std::log10(max_));
      has_zero_ = min_ == 0;
      if (has_zero_) lo_ -= 1;
      if (hi_ <= lo_) hi_ = lo_ + 1;
    } else {
      lo_ = min_;
      hi_ = max_;
      if (hi_ <= lo_) {
        lo_ -= 1;
        hi_ += 1;
      }
    }
  }
  bool log() const { return log_; }
  double fraction(double v) const {
    const double t = !log_ ? v : v > 0 ? std::log10(v) : lo_;
    return (t - lo_) / (hi_ - lo_);
  }
  // Tick positions in data units: every decade on a log axis (0 first when present), else five.
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log_) {
      if (has_zero_) out.push_back(0);
      const int step = hi_ - lo_ > 8 ? 2 : 1;
      for (int k = static_cast<int>(lo_) + (has_zero_ ? 1 : 0); k <= static_cast<int>(hi_); k += step) {
        out.push_back(std::pow(10.0, k));
      }
    } else {
      for (int t = 0; t <= 4; ++t) out.push_back(lo_ + (hi_ - lo_) * t / 4);
    }
    return out;
  }

 private:
  double min_ = 0, max_ = 0, lo_ = 0, hi_ = 1;
  std::optional<double> min_positive_;
  bool log_ = false, has_zero_ = false;
};

// The marker of one point: a circle when the cell behaved as expected, a square for an
// unexpected failure, a cross for an unexpected error (see marker_legend()).
void draw_marker(std::string& out, double cx, double cy, Verdict verdict) {
  auto it = std::back_inserter(out);
  switch (verdict) {
    case Verdict::kUnexpectedFailure:
      fmt::format_to(it, "<rect class=\"marker unexpected\" x=\"{}\" y=\"{}\" width=\"9\" height=\"9\"/>", num(cx - 4.5),
                     num(cy - 4.5));
      break;
    case Verdict::kUnexpectedError:
      fmt::format_to(it, "<path class=\"marker error\" d=\"M{0} {1}L{2} {3}M{0} {3}L{2} {1}\"/>", num(cx - 5),
                     num(cy - 5), num(cx + 5), num(cy + 5));
      break;
    default:
      fmt::format_to(it, "<circle class=\"marker\" cx=\"{}\" cy=\"{}\" r=\"3.5\"/>", num(cx), num(cy));
      break;
  }
}

constexpr const char* kMarkerLegend =
    "<p class=\"legend\">Markers: circle = as expected (pass, or flaky where flaky was expected); "
    "black-edged square = UNEXPECTED failure; cross = UNEXPECTED error. Hover a point for its counts.</p>\n";

// Points with interval whiskers joined per series. `x_label` formats x ticks. The SVG is as wide
// as the longest legend entry needs.
template <typename XLabel>
std::string xy_chart(const std::string& id, const std::vector<Series>& series, const std::string& x_title,
                     XLabel x_label) {
  constexpr double kLeft = 60, kRight = 80, kTop = 16, kPlotH = 260, kPlotW = 760, kAxis = 44, kLegendRow = 18;
  constexpr std::size_t kLegendMax = 11;
  const double legend_h = kLegendRow * static_cast<double>(std::min(series.size(), kLegendMax));
  double width = kLeft + kPlotW + kRight;
  for (std::size_t s = 0; s < series.size() && s < kLegendMax; ++s) {
    width = std::max(width, kLeft + 18 + text_columns(series[s].name) * kSmallCharW + 12);
  }
  const double height = kTop + kPlotH + kAxis + legend_h;
  const XScale scale(series);
  double ymax = 0;
  for (const Series& s : series) {
    for (const Point& p : s.points) ymax = std::max({ymax, p.y, p.high.value_or(0)});
  }
  const double axis_y = std::min(1.0, nice_ceiling(std::max(ymax, 0.001)));
  auto px = [&](double v) { return kLeft + kPlotW * scale.fraction(v); };
  auto py = [&](double v) { return kTop + kPlotH * (1 - v / axis_y); };
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "<svg id=\"{}\" class=\"chart\" data-x-scale=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" "
                 "width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">\n",
                 id, scale.log() ? "log" : "linear", num(width), num(height), num(width), num(height));
  for (int t = 0; t <= 4; ++t) {
    const double v = axis_y * t / 4;
    fmt::format_to(it,
                   "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"grid\"/>"
                   "<text x=\"{3}\" y=\"{4}\" class=\"tick\" text-anchor=\"end\">{5}</text>\n",
                   num(kLeft), num(py(v)), num(kLeft + kPlotW), num(kLeft - 6), num(py(v) + 4), pct_label(v));
  }
  for (double v : scale.ticks()) {
    fmt::format_to(it, "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n", num(px(v)),
                   num(kTop + kPlotH + 16), xml_escape(x_label(v)));
  }
  fmt::format_to(it, "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}{}</text>\n",
                 num(kLeft + kPlotW / 2), num(kTop + kPlotH + 34), xml_escape(x_title),
                 scale.log() ? " (log scale)" : "");
  for (std::size_t s = 0; s < series.size(); ++s) {
    const char* color = kColors[s % kColorCount];
    const auto& points = series[s].points;
    fmt::format_to(it, "<g class=\"series\" stroke=\"{0}\" fill=\"{0}\"><title>{1}</title>", color,
                   xml_escape(series[s].name));
    if (points.size() > 1) {
      out += "<polyline fill=\"none\" points=\"";
      for (std::size_t i = 0; i < points.size(); ++i) {
        fmt::format_to(it, "{}{},{}", i ? " " : "", num(px(points[i].x)), num(py(points[i].y)));
      }
      out += "\"/>";
    }
    for (const Point& p : points) {
      fmt::format_to(it, "<g class=\"point\"><title>{}</title>", xml_escape(p.title));
      if (p.low && p.high) {
        fmt::format_to(it, "<path class=\"whisker\" d=\"M{0} {1}V{2}M{3} {1}H{4}M{3} {2}H{4}\"/>", num(px(p.x)),
                       num(py(*p.low)), num(py(*p.high)), num(px(p.x) - 3), num(px(p.x) + 3));
      }
      draw_marker(out, px(p.x), py(p.y), p.verdict);
      out += "</g>";
    }
    out += "</g>\n";
  }
  for (std::size_t s = 0; s < series.size() && s < kLegendMax; ++s) {
    const double y = kTop + kPlotH + kAxis + kLegendRow * static_cast<double>(s) + 12;
    if (s == kLegendMax - 1 && series.size() > kLegendMax) {
      fmt::format_to(it, "<text x=\"{}\" y=\"{}\" class=\"legend\">... and {} more</text>\n", num(kLeft), num(y),
                     series.size() - s);
      break;
    }
    fmt::format_to(it,
                   "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
                   "<text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>\n",
                   num(kLeft), num(y - 10), kColors[s % kColorCount], num(kLeft + 18), num(y),
                   xml_escape(series[s].name));
  }
  out += "</svg>\n";
  return out;
}

// A point of one cell or run: rate with its 95% interval (the one-sided upper bound when nothing
// failed); a cell whose trials all errored sits at 0 without an interval.
Point rate_point(double x, const Counts& counts, Verdict verdict, const std::string& title) {
  Point p;
  p.x = x;
  p.verdict = verdict;
  p.y = counts.trials ? static_cast<double>(counts.failing()) / static_cast<double>(counts.trials) : 0;
  if (counts.trials > counts.errors) {
    const Interval interval = wilson_interval(counts.failing(), counts.trials);
    p.low = interval.low;
    p.high = counts.failing() == 0 ? zero_failure_upper_bound(counts.trials) : interval.high;
  }
  p.title = counts.trials > counts.errors
                ? fmt::format("{}: {} failing ({}); {}", title, counts_note(counts), pct_label(p.y), describe(verdict))
                : fmt::format("{}: {}, no rate; {}", title, counts_note(counts), describe(verdict));
  return p;
}

// "k=v,k=v" as (name, value) pairs, in order.
std::vector<std::pair<std::string, std::string>> split_params(std::string_view params) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!params.empty()) {
    const std::size_t comma = params.find(',');
    const std::string_view item = params.substr(0, comma);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos) out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    params.remove_prefix(comma + 1);
  }
  return out;
}

std::optional<double> numeric(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (*end != '\0' || !std::isfinite(value)) return std::nullopt;
  return value;
}

// One curve per cell with one parameter left free: the key is the cell minus that parameter.
struct SweepKey {
  std::string scenario, placement, other_params, cpu_model;
  auto operator<=>(const SweepKey&) const = default;
};

// For every numeric parameter swept somewhere (>= 3 distinct values with everything else in the
// cell equal): the curves of those cells. Cells of one curve never pool with another's.
std::map<std::string, std::map<SweepKey, std::map<double, const CellRate*>>> parameter_sweeps(
    const std::vector<CellRate>& cells) {
  std::map<std::string, std::map<SweepKey, std::map<double, const CellRate*>>> all;
  for (const CellRate& cell : cells) {
    const auto params = split_params(cell.cell.params);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto value = numeric(params[i].second);
      if (!value) continue;
      std::string others;
      for (std::size_t k = 0; k < params.size(); ++k) {
        if (k == i) continue;
        if (!others.empty()) others += ",";
        others += params[k].first + "=" + params[k].second;
      }
      SweepKey key{cell.cell.scenario, cell.cell.placement, others, cell.cell.cpu_model};
      all[params[i].first][key].emplace(*value, &cell);
    }
  }
  for (auto& [name, curves] : all) std::erase_if(curves, [](const auto& curve) { return curve.second.size() < 3; });
  std::erase_if(all, [](const auto& entry) { return entry.second.empty(); });
  return all;
}

// Element ids from parameter names: letters, digits, '-' and '_' kept, anything else '-'.
std::string id_part(std::string_view name) {
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '-');
  return out;
}

std::string cell_counts_line(const CellRate& cell) {
  return fmt::format("{}, {} trials: {} pass, {} fail, {} timeout, {} error; rate {}", plural(cell.runs, "run"),
                     cell.counts.trials, cell.counts.passes, cell.counts.failures, cell.counts.timeouts,
                     cell.counts.errors,
                     html_rate(cell.counts, cell.rate, cell.wilson_low, cell.wilson_high, cell.upper_bound));
}

// The verdict first: what failed unexpectedly, what is flaky as expected, what was skipped and why.
std::string summary_section(const ReportData& data) {
  std::vector<const CellRate*> unexpected, flaky, no_trials;
  int64_t passed = 0;
  for (const CellRate& cell : data.cells) {
    switch (cell.verdict) {
      case Verdict::kUnexpectedFailure:
      case Verdict::kUnexpectedError:
        unexpected.push_back(&cell);
        break;
      case Verdict::kFlakyAsExpected:
        flaky.push_back(&cell);
        break;
      case Verdict::kNoTrials:
        no_trials.push_back(&cell);
        break;
      case Verdict::kPassed:
        ++passed;
        break;
    }
  }
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "<section id=\"summary\">\n<h2>Summary</h2>\n<p id=\"verdict\" class=\"{}\"><b>{}</b> {} unexpected, "
                 "{} flaky as expected, {} passed, {} without trials, {} skipped on their machine.</p>\n",
                 unexpected.empty() ? "good" : "bad",
                 unexpected.empty() ? "Every cell behaved as expected." : "UNEXPECTED results.", unexpected.size(),
                 flaky.size(), passed, no_trials.size(), data.skipped.size());
  // What behaved as expected folds away when long (the heatmap shows it too); what did not, never.
  constexpr std::size_t kOpenListMax = 6;
  auto list = [&](const char* id, const char* heading, const std::vector<const CellRate*>& cells, const char* none,
                  bool fold_expected) {
    fmt::format_to(it, "<h3>{}</h3>\n", heading);
    if (cells.empty()) {
      fmt::format_to(it, "<p id=\"{}\" class=\"empty\">{}</p>\n", id, none);
      return;
    }
    const bool fold = fold_expected && cells.size() > kOpenListMax;
    if (fold) fmt::format_to(it, "<details><summary>{} cells (show)</summary>\n", cells.size());
    fmt::format_to(it, "<ul id=\"{}\">\n", id);
    for (const CellRate* cell : cells) {
      const auto sigs = signatures_of(data, cell->cell);
      fmt::format_to(it, "<li><span class=\"swatch\" style=\"background:{}\"></span><b>{}</b>: {}; {}{}</li>\n",
                     verdict_color(cell->verdict), xml_escape(cell_label(cell->cell)), describe(cell->verdict),
                     cell_counts_line(*cell),
                     sigs.empty() ? std::string()
                                  : fmt::format("; top signature <code title=\"{}\">{}</code>",
                                                xml_escape(one_line(sigs.front()->example_message, 500)),
                                                sigs.front()->hash));
    }
    out += fold ? "</ul></details>\n" : "</ul>\n";
  };
  list("summary-unexpected", "Failed unexpectedly", unexpected, "Nothing failed unexpectedly.", false);
  list("summary-flaky", "Flaky as expected", flaky, "No expected-flaky cell failed.", true);
  if (!no_trials.empty()) list("summary-no-trials", "No trials recorded", no_trials, "", false);
  out += "<h3>Skipped</h3>\n";
  if (data.skipped.empty()) {
    out += "<p id=\"summary-skipped\" class=\"empty\">No planned cell was skipped.</p>\n";
  } else {
    const bool fold = data.skipped.size() > kOpenListMax;
    if (fold) fmt::format_to(it, "<details><summary>{} cells (show)</summary>\n", data.skipped.size());
    out += "<ul id=\"summary-skipped\">\n";
    for (const SkippedCellRow& row : data.skipped) {
      fmt::format_to(it, "<li><b>{}</b> (expect {}): {}</li>\n", xml_escape(cell_label(row.cell)),
                     xml_escape(row.expect.value_or("pass")), xml_escape(row.reason));
    }
    out += fold ? "</ul></details>\n" : "</ul>\n";
  }
  out += "</section>\n";
  return out;
}

constexpr const char* kStyle = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; margin: 12px 0 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.flaky td { background: #fff4e0; }
tr.unexpected td { background: #fde0e0; }
code { font-size: 12px; }
#verdict.bad { color: #b00; } #verdict.good { color: #060; }
.swatch { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 10px; vertical-align: -1px; }
li .swatch { margin-left: 0; }
.legend { font-size: 12px; color: #444; }
.chart { display: block; margin: 8px 0; background: #fafafa; border: 1px solid #eee; max-width: 100%; height: auto; }
.chart text { font-family: "DejaVu Sans Mono", ui-monospace, monospace; }
.chart .grid { stroke: #ddd; stroke-width: 1; }
.chart .tick, .chart .note, .chart .legend, .chart .axis { font-size: 11px; fill: #444; stroke: none; }
.chart .label { font-size: 12px; fill: #222; }
.chart .whisker { stroke: #222; stroke-width: 1.5; fill: none; }
.chart .series .whisker { stroke: inherit; }
.chart .marker.unexpected { stroke: #000; stroke-width: 2; }
.chart .marker.error { stroke: #000; stroke-width: 2.5; fill: none; }
.chart polyline { stroke-width: 1.5; opacity: 0.6; }
.empty { color: #777; font-style: italic; }
)css";

}  // namespace

std::string render_html(const ReportData& data) {
  std::string out;
  auto it = std::back_inserter(out);
  const std::string title = xml_escape(data.title);
  fmt::format_to(it,
                 "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
                 "<style>{}{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
                 title, kStyle, kTableStyle, title);
  const Counts& t = data.totals;
  fmt::format_to(it,
                 "<p id=\"totals\">Filter: {}. {} runs, {} cells, {} trials: {} pass, {} fail, {} timeout, {} error; "
                 "{} distinct failure signatures.</p>\n",
                 xml_escape(filter_text(data.filter)), data.runs.size(), data.cells.size(), t.trials, t.passes,
                 t.failures, t.timeouts, t.errors, data.signatures.size());
  out += summary_section(data);
  out += heatmap_section(data);

  // Chart 1: failure rate per cell, one bar per scenario x parameters x placement x CPU model:
  // a cell failing on one CPU and never on another shows as two bars.
  {
    std::vector<Bar> bars;
    for (const CellRate& cell : data.cells) {
      Bar bar;
      bar.label = fmt::format("{} {} [{}] @ {}", or_dash(cell.cell.scenario), or_dash(cell.cell.params),
                              or_dash(cell.cell.placement), or_dash(cell.cell.cpu_model));
      bar.value = cell.counts.trials ? cell.rate : 0;
      if (cell.counts.trials > cell.counts.errors) {
        bar.low = cell.wilson_low;
        bar.high = cell.counts.failing() == 0 ? cell.upper_bound : cell.wilson_high;
      }
      bar.note = counts_note(cell.counts);
      bar.color = verdict_color(cell.verdict);
      bar.title = fmt::format("{}: {}; {}", cell_label(cell.cell), describe(cell.verdict), cell_counts_line(cell));
      bars.push_back(std::move(bar));
    }
    out += "<h2>Failure rate per cell</h2>\n<p>Fail + timeout per scenario, parameters, placement and CPU model; "
           "whiskers are 95% Wilson intervals (the one-sided 95% upper bound when nothing failed); errors are "
           "counted beside the bar, a cell whose every trial errored has no rate.</p>\n";
    out += bars.empty() ? "<p class=\"empty\">No trials.</p>\n"
                        : bar_chart("chart-placement", bars, true) + verdict_legend();
  }

  // Chart 2: one chart per swept numeric parameter, one curve per cell with that parameter free.
  {
    out += "<h2>Parameter sweeps</h2>\n<p>One chart per numeric parameter with at least three values in a "
           "scenario while everything else is equal; one curve per cell (scenario, placement, the other "
           "parameters, CPU model), so cells are never added together.</p>\n";
    const auto sweeps = parameter_sweeps(data.cells);
    if (sweeps.empty()) out += "<p class=\"empty\">No parameter was swept.</p>\n";
    for (const auto& [name, curves] : sweeps) {
      std::vector<Series> series;
      for (const auto& [key, points] : curves) {
        Series s;
        s.name = fmt::format("{} [{}] {} @ {}", or_dash(key.scenario), or_dash(key.placement),
                             key.other_params.empty() ? name + "=*" : key.other_params, or_dash(key.cpu_model));
        for (const auto& [x, cell] : points) {
          s.points.push_back(rate_point(x, cell->counts, cell->verdict, fmt::format("{} {}={:g}", s.name, name, x)));
        }
        series.push_back(std::move(s));
      }
      fmt::format_to(it, "<h3>Failure rate against {}</h3>\n", xml_escape(name));
      out += xy_chart("chart-sweep-" + id_part(name), series, name, [](double v) { return fmt::format("{:g}", v); });
    }
    if (!sweeps.empty()) out += kMarkerLegend;
  }

  // Chart 3: signatures by count.
  {
    std::vector<Bar> bars;
    const std::size_t shown = std::min(data.max_signatures, data.signatures.size());
    for (std::size_t i = 0; i < shown; ++i) {
      const SignatureStats& s = data.signatures[i];
      Bar bar;
      bar.label = s.hash.substr(0, 8) + " " + one_line(s.normalized, 40);
      bar.value = static_cast<double>(s.count);
      bar.note = std::to_string(s.count);
      bar.title = one_line(s.normalized, 300);
      bars.push_back(std::move(bar));
    }
    out += "<h2>Failure signatures by count</h2>\n";
    out += bars.empty() ? "<p class=\"empty\">No failures.</p>\n" : bar_chart("chart-signatures", bars, false);
  }

  // Chart 4: rate per run over time, one series per cell.
  {
    std::map<CellKey, Series> by_cell;
    for (const RunRate& run : data.runs) {
      if (run.counts.trials == 0) continue;
      Series& s = by_cell[run.cell];
      s.name = cell_label(run.cell);
      const Verdict verdict = verdict_of([&] {
        ExpectedCounts by;
        by.add(expectation_of(run.expect), run.counts);
        return by;
      }());
      s.points.push_back(rate_point(static_cast<double>(run.started_at_ms), run.counts, verdict,
                                    fmt::format("run {} {}", run.run_id, format_time_ms(run.started_at_ms))));
    }
    std::vector<Series> series;
    for (auto& [key, s] : by_cell) series.push_back(std::move(s));
    out += "<h2>Failure rate per run over time</h2>\n";
    out += series.empty() ? "<p class=\"empty\">No runs with trials.</p>\n"
                          : xy_chart("chart-runs", series, "run start (UTC)",
                                     [](double v) {
                                       return format_time_ms(static_cast<int64_t>(std::llround(v))).substr(0, 16);
                                     }) +
                                std::string(kMarkerLegend);
  }

  out += cells_table(data);
  out += signatures_tables(data);
  out += runs_table(data);
  fmt::format_to(it, "<script>{}</script>\n</body>\n</html>\n", kTableScript);
  return out;
}

}  // namespace flakelab::results
