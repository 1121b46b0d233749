// Whole-store reports: collection, text, JSON and JUnit XML (HTML: report_html.cpp).
#include "flakelab/results/reports.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "flakelab/results/machine_kind.h"
#include "flakelab/results/rate_format.h"
#include "report_text.h"

namespace flakelab::results {

using namespace report_detail;  // NOLINT: this file defines them

const char* to_string(ReportFormat format) {
  switch (format) {
    case ReportFormat::kText:
      return "text";
    case ReportFormat::kJson:
      return "json";
    case ReportFormat::kJunit:
      return "junit";
    case ReportFormat::kHtml:
      return "html";
    case ReportFormat::kMarkdown:
      return "markdown";
  }
  return "invalid";
}

std::optional<ReportFormat> report_format_from_string(std::string_view text) {
  for (ReportFormat f : {ReportFormat::kText, ReportFormat::kJson, ReportFormat::kJunit, ReportFormat::kHtml,
                         ReportFormat::kMarkdown}) {
    if (text == to_string(f)) return f;
  }
  return std::nullopt;
}

ReportData collect_report(Store& store, const ReportOptions& options) {
  Query query(store);
  ReportData data;
  data.title = options.title;
  data.filter = options.filter;
  data.max_signatures = options.max_signatures;
  data.max_message_bytes = options.max_message_bytes;
  data.runs = query.runs(options.filter);
  data.cells = pool_by_cell(data.runs);
  for (const CellRate& cell : data.cells) data.totals.add(cell.counts);
  data.signatures = query.signatures(options.filter);
  data.cell_signatures = query.cell_signatures(options.filter, options.signatures_per_cell);
  data.first_failures = query.first_failures(options.filter);
  // A cell skipped once but run elsewhere with the same CPU model is reported as run.
  std::set<CellKey> ran;
  for (const CellRate& cell : data.cells) ran.insert(cell.cell);
  for (SkippedCellRow& row : query.skipped_cells(options.filter)) {
    if (!ran.contains(row.cell)) data.skipped.push_back(std::move(row));
  }
  // Examples from as many cells as possible: the first failure of each cell, then the next ones.
  constexpr std::size_t kCandidates = 200;
  const std::size_t shown = std::min(options.max_signatures, data.signatures.size());
  for (std::size_t i = 0; i < shown && options.examples_per_signature > 0; ++i) {
    const std::string& hash = data.signatures[i].hash;
    std::vector<SignatureTrial> trials = query.trials_for_signature(hash, options.filter, kCandidates);
    std::vector<bool> taken(trials.size(), false);
    std::vector<std::size_t> picked;
    std::set<CellKey> cells;
    for (std::size_t k = 0; k < trials.size() && picked.size() < options.examples_per_signature; ++k) {
      if (cells.insert(trials[k].cell).second) {
        picked.push_back(k);
        taken[k] = true;
      }
    }
    for (std::size_t k = 0; k < trials.size() && picked.size() < options.examples_per_signature; ++k) {
      if (!taken[k]) picked.push_back(k);
    }
    std::sort(picked.begin(), picked.end());
    for (std::size_t k : picked) {
      KeptArtifacts kept = find_kept_artifacts(trials[k].artifact_path, options.page_dir);
      data.signature_examples.push_back({hash, std::move(trials[k]), std::move(kept)});
    }
  }
  return data;
}

namespace {

// Valid UTF-8 is copied; each invalid byte becomes U+FFFD. Returns the length of the valid
// sequence at `i`, or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned c = b(i);
  if (c < 0x80) return 1;
  auto cont = [&](std::size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
    if (c == 0xEF && b(i + 1) == 0xBF && (b(i + 2) == 0xBE || b(i + 2) == 0xBF)) return 0;  // U+FFFE/F
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

namespace report_detail {

// Cut to at most max_bytes without splitting a UTF-8 sequence; "..." marks a cut.
std::string cut(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

// Control characters (newlines of multi-line messages) as spaces, invalid UTF-8 as U+FFFD.
std::string one_line(std::string_view text, std::size_t max_bytes) {
  const std::string cut_text = cut(text, max_bytes);
  std::string line;
  line.reserve(cut_text.size());
  std::size_t i = 0;
  while (i < cut_text.size()) {
    const std::size_t len = utf8_sequence(cut_text, i);
    if (len == 0) {
      line += "\xEF\xBF\xBD";
      ++i;
    } else if (len == 1) {
      const auto byte = static_cast<unsigned char>(cut_text[i++]);
      line.push_back(byte < 0x20 || byte == 0x7f ? ' ' : static_cast<char>(byte));
    } else {
      line.append(cut_text, i, len);
      i += len;
    }
  }
  return line;
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

std::string filter_text(const Filter& filter) {
  std::string out;
  if (!filter.run_ids.empty()) out += fmt::format("runs {}", fmt::join(filter.run_ids, ","));
  if (filter.since_ms) {
    if (!out.empty()) out += ", ";
    out += "since " + format_time_ms(*filter.since_ms);
  }
  return out.empty() ? "all runs" : out;
}

}  // namespace report_detail

namespace {

std::string rate_text(const CellRate& cell) {
  if (cell.counts.trials == 0) return "no trials";
  if (cell.counts.failing() == 0) return "< " + format_percent(cell.upper_bound, Round::kUp);
  return format_percent(cell.rate, Round::kNearest);
}

std::string interval_text(const CellRate& cell) {
  if (cell.counts.trials == 0) return "-";
  if (cell.counts.failing() == 0) return "95% upper bound";
  return format_percent(cell.wilson_low, Round::kDown) + " .. " + format_percent(cell.wilson_high, Round::kUp);
}

// A plain text table: columns padded to their widest cell; numeric columns right-aligned.
class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<bool> right)
      : headers_(std::move(headers)), right_(std::move(right)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render(std::string_view indent = "  ") const {
    std::vector<std::size_t> width(headers_.size());
    for (std::size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
    for (const auto& row : rows_) {
      for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& row) {
      std::string text(indent);
      for (std::size_t c = 0; c < row.size(); ++c) {
        if (c > 0) text += "  ";
        const std::size_t pad = width[c] - row[c].size();
        if (right_[c]) text.append(pad, ' ');
        text += row[c];
        if (!right_[c] && c + 1 < row.size()) text.append(pad, ' ');
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out += text + "\n";
    };
    line(headers_);
    for (const auto& row : rows_) line(row);
    return out;
  }

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace

namespace report_detail {

const FirstFailure* first_failure_of(const ReportData& data, const CellKey& cell) {
  for (const FirstFailure& ff : data.first_failures) {
    if (ff.cell == cell) return &ff;
  }
  return nullptr;
}

std::vector<const CellSignature*> signatures_of(const ReportData& data, const CellKey& cell) {
  std::vector<const CellSignature*> out;
  for (const CellSignature& cs : data.cell_signatures) {
    if (cs.cell == cell) out.push_back(&cs);
  }
  return out;
}

}  // namespace report_detail

std::string cell_label(const CellKey& cell) {
  return fmt::format("{} [{}] {} @ {}", or_dash(cell.scenario), or_dash(cell.placement), or_dash(cell.params),
                     or_dash(cell.cpu_model));
}

// ---------------------------------------------------------------------------------------------
// text

std::string render_text(const ReportData& data) {
  std::string out;
  auto it = std::back_inserter(out);
  const Counts& t = data.totals;
  fmt::format_to(it, "{}\n", data.title);
  fmt::format_to(it, "filter: {}\n", filter_text(data.filter));
  fmt::format_to(it, "runs {}  cells {}  trials {}  pass {}  fail {}  timeout {}  error {}  signatures {}\n\n",
                 data.runs.size(), data.cells.size(), t.trials, t.passes, t.failures, t.timeouts, t.errors,
                 data.signatures.size());

  fmt::format_to(it, "Failure rate per cell (fail + timeout; 95% Wilson interval, or the one-sided 95% upper "
                     "bound 1-0.05^(1/n) when nothing failed)\n");
  Table cells({"scenario", "placement", "params", "cpu", "runs", "trials", "failing", "errors", "rate",
               "interval", "verdict"},
              {false, false, false, false, true, true, true, true, true, false, false});
  for (const CellRate& cell : data.cells) {
    cells.add({or_dash(cell.cell.scenario), or_dash(cell.cell.placement), or_dash(cell.cell.params),
               or_dash(cell.cell.cpu_model), std::to_string(cell.runs), std::to_string(cell.counts.trials),
               std::to_string(cell.counts.failing()), std::to_string(cell.counts.errors), rate_text(cell),
               interval_text(cell), cell.verdict == Verdict::kPassed ? "" : describe(cell.verdict)});
  }
  out += cells.render();
  if (!data.skipped.empty()) {
    fmt::format_to(it, "\nSkipped (planned, but not runnable on the machine that ran the campaign)\n");
    Table skipped({"scenario", "placement", "params", "cpu", "reason"}, {false, false, false, false, false});
    for (const SkippedCellRow& row : data.skipped) {
      skipped.add({or_dash(row.cell.scenario), or_dash(row.cell.placement), or_dash(row.cell.params),
                   or_dash(row.cell.cpu_model), row.reason});
    }
    out += skipped.render();
  }

  fmt::format_to(it, "\nTrials to first failure (runs with a failure; time = sum of trial durations)\n");
  Table first({"scenario", "placement", "params", "cpu", "runs", "failed runs", "mean trials", "min", "max",
               "mean ms"},
              {false, false, false, false, true, true, true, true, true, true});
  for (const FirstFailure& ff : data.first_failures) {
    if (ff.runs_with_failure == 0) {
      first.add({or_dash(ff.cell.scenario), or_dash(ff.cell.placement), or_dash(ff.cell.params),
                 or_dash(ff.cell.cpu_model), std::to_string(ff.runs), "0", "-", "-", "-", "-"});
    } else {
      first.add({or_dash(ff.cell.scenario), or_dash(ff.cell.placement), or_dash(ff.cell.params),
                 or_dash(ff.cell.cpu_model), std::to_string(ff.runs), std::to_string(ff.runs_with_failure),
                 fmt::format("{:.1f}", ff.mean_trials), std::to_string(ff.min_trials),
                 std::to_string(ff.max_trials), fmt::format("{:.1f}", ff.mean_ms)});
    }
  }
  out += first.render();

  fmt::format_to(it, "\nSignatures (most frequent first)\n");
  Table sigs({"count", "cells", "hash", "first seen", "last seen", "signature"},
             {true, true, false, false, false, false});
  const std::size_t shown = std::min(data.max_signatures, data.signatures.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const SignatureStats& s = data.signatures[i];
    sigs.add({std::to_string(s.count), std::to_string(s.cells), s.hash, format_time_ms(s.first_seen_ms),
              format_time_ms(s.last_seen_ms), one_line(s.normalized, data.max_message_bytes)});
  }
  out += sigs.render();
  if (shown < data.signatures.size()) {
    fmt::format_to(it, "  ({} more signatures)\n", data.signatures.size() - shown);
  }
  for (std::size_t i = 0; i < shown; ++i) {
    const SignatureStats& s = data.signatures[i];
    fmt::format_to(it, "  {} e.g. {}\n", s.hash, one_line(s.example_message, data.max_message_bytes));
  }

  fmt::format_to(it, "\nRuns (by start time)\n");
  Table runs({"run", "started", "scenario", "placement", "params", "cpu", "machine", "trials", "failing", "rate"},
             {true, false, false, false, false, false, false, true, true, true});
  for (const RunRate& run : data.runs) {
    runs.add({std::to_string(run.run_id), format_time_ms(run.started_at_ms), or_dash(run.cell.scenario),
              or_dash(run.cell.placement), or_dash(run.cell.params), or_dash(run.cell.cpu_model),
              describe_machine_kind(run.hypervisor, run.vcpus),
              std::to_string(run.counts.trials), std::to_string(run.counts.failing()),
              run.counts.trials ? format_percent(run.rate, Round::kNearest) : "-"});
  }
  out += runs.render();
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

namespace {

using nlohmann::ordered_json;

ordered_json cell_json(const CellKey& cell) {
  return ordered_json{{"scenario", cell.scenario},
                      {"placement", cell.placement},
                      {"params", cell.params},
                      {"cpu_model", cell.cpu_model}};
}

void add_counts(ordered_json& j, const Counts& c) {
  j["trials"] = c.trials;
  j["passes"] = c.passes;
  j["failures"] = c.failures;
  j["timeouts"] = c.timeouts;
  j["errors"] = c.errors;
  j["failing"] = c.failing();
}

}  // namespace

std::string render_json(const ReportData& data) {
  ordered_json root;
  root["schema"] = "flakelab-report/1";
  root["title"] = data.title;
  root["filter"] = ordered_json{{"run_ids", data.filter.run_ids},
                                {"since_ms", data.filter.since_ms ? ordered_json(*data.filter.since_ms)
                                                                  : ordered_json(nullptr)}};
  ordered_json totals;
  totals["runs"] = data.runs.size();
  totals["cells"] = data.cells.size();
  totals["signatures"] = data.signatures.size();
  add_counts(totals, data.totals);
  root["totals"] = totals;

  ordered_json cells = ordered_json::array();
  for (const CellRate& cell : data.cells) {
    ordered_json j = cell_json(cell.cell);
    j["runs"] = cell.runs;
    add_counts(j, cell.counts);
    j["rate"] = cell.rate;
    j["wilson_low"] = cell.wilson_low;
    j["wilson_high"] = cell.wilson_high;
    j["upper_bound"] = cell.upper_bound;
    j["flaky"] = cell.flaky();
    j["verdict"] = verdict_name(cell.verdict);
    j["as_expected"] = as_expected(cell.verdict);
    j["must_pass_trials"] = cell.by_expectation.must_pass.trials;
    j["expected_flaky_trials"] = cell.by_expectation.flaky.trials;
    j["wall_ms"] = cell.wall_ms;
    if (const FirstFailure* ff = first_failure_of(data, cell.cell)) {
      j["first_failure"] = ordered_json{{"runs_with_failure", ff->runs_with_failure},
                                        {"mean_trials", ff->mean_trials},
                                        {"min_trials", ff->min_trials},
                                        {"max_trials", ff->max_trials},
                                        {"mean_ms", ff->mean_ms}};
    }
    ordered_json sigs = ordered_json::array();
    for (const CellSignature* cs : signatures_of(data, cell.cell)) {
      sigs.push_back(ordered_json{{"hash", cs->hash},
                                  {"count", cs->count},
                                  {"normalized", cs->normalized},
                                  {"example_message", cs->example_message}});
    }
    j["signatures"] = sigs;
    cells.push_back(std::move(j));
  }
  root["cells"] = cells;
  ordered_json skipped = ordered_json::array();
  for (const SkippedCellRow& row : data.skipped) {
    ordered_json j = cell_json(row.cell);
    j["expect"] = row.expect ? ordered_json(*row.expect) : ordered_json(nullptr);
    j["reason"] = row.reason;
    j["recorded_at_ms"] = row.recorded_at_ms;
    skipped.push_back(std::move(j));
  }
  root["skipped_cells"] = skipped;

  ordered_json sigs = ordered_json::array();
  for (const SignatureStats& s : data.signatures) {
    sigs.push_back(ordered_json{{"hash", s.hash},
                                {"normalized", s.normalized},
                                {"example_message", s.example_message},
                                {"count", s.count},
                                {"total_count", s.total_count},
                                {"cells", s.cells},
                                {"first_seen_ms", s.first_seen_ms},
                                {"last_seen_ms", s.last_seen_ms},
                                {"first_seen", format_time_ms(s.first_seen_ms)},
                                {"last_seen", format_time_ms(s.last_seen_ms)}});
  }
  root["signatures"] = sigs;

  ordered_json runs = ordered_json::array();
  for (const RunRate& run : data.runs) {
    ordered_json j{{"id", run.run_id}, {"run_uid", run.run_uid}};
    j["scenario"] = run.cell.scenario;
    j["placement"] = run.cell.placement;
    j["params"] = run.cell.params;
    j["cpu_model"] = run.cell.cpu_model;
    j["hostname"] = run.hostname;
    j["hypervisor"] = run.hypervisor;
    j["vcpus"] = run.vcpus;
    j["started_at_ms"] = run.started_at_ms;
    j["ended_at_ms"] = run.ended_at_ms ? ordered_json(*run.ended_at_ms) : ordered_json(nullptr);
    add_counts(j, run.counts);
    j["rate"] = run.rate;
    j["wilson_low"] = run.wilson_low;
    j["wilson_high"] = run.wilson_high;
    runs.push_back(std::move(j));
  }
  root["runs"] = runs;
  // Invalid UTF-8 in a message becomes U+FFFD rather than failing the report.
  return root.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// ---------------------------------------------------------------------------------------------
// XML helpers

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t len = utf8_sequence(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not valid UTF-8
      ++i;
      continue;
    }
    if (len > 1) {
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        // XML 1.0 forbids the other C0 controls, even as character references.
        if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
        break;
    }
  }
  return out;
}

namespace {

// Text content keeps its newlines readable (escaping them is only needed in attributes).
std::string xml_text(std::string_view text) {
  std::string out = xml_escape(text);
  std::string readable;
  readable.reserve(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 5, "&#10;") == 0) {
      readable.push_back('\n');
      i += 4;
    } else {
      readable.push_back(out[i]);
    }
  }
  return readable;
}

std::string seconds(int64_t ms) { return fmt::format("{:.3f}", static_cast<double>(ms) / 1000.0); }

std::string cell_summary(const CellRate& cell) {
  std::string text = fmt::format("{} trials in {} runs: {} pass, {} fail, {} timeout, {} error; ", cell.counts.trials,
                                 cell.runs, cell.counts.passes, cell.counts.failures, cell.counts.timeouts,
                                 cell.counts.errors);
  if (cell.counts.failing() == 0) {
    text += fmt::format("0 failing; rate < {} at 95%", format_percent(cell.upper_bound, Round::kUp));
  } else {
    text += fmt::format("failure rate {} (95% Wilson {} .. {})", format_percent(cell.rate, Round::kNearest),
                        format_percent(cell.wilson_low, Round::kDown), format_percent(cell.wilson_high, Round::kUp));
  }
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// JUnit XML

std::string render_junit(const ReportData& data) {
  // Group cells by scenario: one <testsuite> per scenario, one <testcase> per cell. A cell's
  // status is its verdict (verdict.h), the rule `run` and `gate` use: an expected-flaky cell
  // that fails is green (with <flakyFailure>), a must-pass cell that fails once is red.
  std::map<std::string, std::vector<const CellRate*>> suites;
  for (const CellRate& cell : data.cells) suites[cell.cell.scenario].push_back(&cell);
  std::map<std::string, std::vector<const SkippedCellRow*>> skipped;
  for (const SkippedCellRow& row : data.skipped) {
    skipped[row.cell.scenario].push_back(&row);
    suites[row.cell.scenario];  // a scenario whose every cell was skipped still has a suite
  }
  auto testcase_name = [](const CellKey& key) {
    return fmt::format("[{}] {}", or_dash(key.placement), or_dash(key.params));
  };

  struct Tally {
    int64_t failures = 0, errors = 0, skipped = 0, ms = 0;
    void add(const CellRate& c) {
      failures += c.verdict == Verdict::kUnexpectedFailure;
      errors += c.verdict == Verdict::kUnexpectedError;
      skipped += c.verdict == Verdict::kNoTrials;
      ms += c.wall_ms;
    }
  };
  Tally all;
  for (const CellRate& cell : data.cells) all.add(cell);
  all.skipped += static_cast<int64_t>(data.skipped.size());

  std::string out;
  auto it = std::back_inserter(out);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  fmt::format_to(it, "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">\n",
                 xml_escape(data.title), data.cells.size() + data.skipped.size(), all.failures, all.errors, all.skipped, seconds(all.ms));
  for (const auto& [scenario, cells] : suites) {
    Tally suite;
    for (const CellRate* cell : cells) suite.add(*cell);
    const std::vector<const SkippedCellRow*>& skipped_here = skipped[scenario];
    suite.skipped += static_cast<int64_t>(skipped_here.size());
    fmt::format_to(it,
                   "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" "
                   "time=\"{}\">\n",
                   xml_escape(or_dash(scenario)), cells.size() + skipped_here.size(), suite.failures, suite.errors,
                   suite.skipped,
                   seconds(suite.ms));
    for (const CellRate* cell : cells) {
      const auto sigs = signatures_of(data, cell->cell);
      // The CPU is a property, not part of the name: a test keeps its identity (and its
      // history in the CI server) when the runner's CPU changes.
      fmt::format_to(it, "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">\n",
                     xml_escape("flakelab." + or_dash(scenario)),
                     xml_escape(testcase_name(cell->cell)), seconds(cell->wall_ms));
      out += "      <properties>\n";
      auto property = [&](std::string_view name, const std::string& value) {
        fmt::format_to(it, "        <property name=\"{}\" value=\"{}\"/>\n", xml_escape(name), xml_escape(value));
      };
      const ExpectedCounts& by = cell->by_expectation;
      property("verdict", verdict_name(cell->verdict));
      property("expect", by.flaky.trials > 0 ? (by.must_pass.trials > 0 ? "pass,flaky" : "flaky") : "pass");
      property("cpu_model", or_dash(cell->cell.cpu_model));
      property("flaky", cell->flaky() ? "true" : "false");
      property("runs", std::to_string(cell->runs));
      property("trials", std::to_string(cell->counts.trials));
      property("passes", std::to_string(cell->counts.passes));
      property("failures", std::to_string(cell->counts.failures));
      property("timeouts", std::to_string(cell->counts.timeouts));
      property("errors", std::to_string(cell->counts.errors));
      property("rate", fmt::format("{:.6f}", cell->rate));
      property("wilson_low", fmt::format("{:.6f}", cell->wilson_low));
      property("wilson_high", fmt::format("{:.6f}", cell->wilson_high));
      property("upper_bound_95", fmt::format("{:.6f}", cell->upper_bound));
      for (const CellSignature* cs : sigs) property("signature", fmt::format("{} x{}", cs->hash, cs->count));
      out += "      </properties>\n";

      std::string details;
      for (const CellSignature* cs : sigs) {
        details += fmt::format("signature {} ({} failures): {}\n  example: {}\n", cs->hash, cs->count, cs->normalized,
                               cut(cs->example_message, 4000));
      }
      const std::string top_hash = sigs.empty() ? "none" : sigs.front()->hash;
      const std::string top_message = sigs.empty() ? "" : one_line(sigs.front()->example_message, 500);
      const std::string failed = fmt::format("{} of {} trials failed ({}); signature {}{}{}", cell->counts.failing(),
                                             cell->counts.trials, format_percent(cell->rate, Round::kNearest),
                                             top_hash, top_message.empty() ? "" : ": ", top_message);
      switch (cell->verdict) {
        case Verdict::kUnexpectedFailure: {
          const std::string why =
              by.must_pass.failing() > 0
                  ? fmt::format("UNEXPECTED: must not fail, but {} of {} must-pass trials failed or timed out",
                                by.must_pass.failing(), by.must_pass.trials)
                  : fmt::format("UNEXPECTED: {} of {} expected-flaky trials timed out", by.flaky.timeouts,
                                by.flaky.trials);
          fmt::format_to(it, "      <failure message=\"{}\" type=\"flakelab.signature.{}\">{}</failure>\n",
                         xml_escape(why + "; " + failed), xml_escape(top_hash), xml_text(details));
          break;
        }
        case Verdict::kUnexpectedError:
          fmt::format_to(it, "      <error message=\"{}\" type=\"flakelab.error\">{}</error>\n",
                         xml_escape(fmt::format("UNEXPECTED: {} of {} trials ended in a harness error",
                                                cell->counts.errors, cell->counts.trials)),
                         xml_text(details));
          break;
        case Verdict::kFlakyAsExpected:
          // Surefire/Jenkins: <flakyFailure> on a passing test reads "flaky"; the cell was
          // expected to fail sometimes, so the test passes and the failures are shown.
          fmt::format_to(it,
                         "      <flakyFailure message=\"{}\" type=\"flakelab.signature.{}\">\n"
                         "        <stackTrace>{}</stackTrace>\n      </flakyFailure>\n",
                         xml_escape("expected flaky: " + failed), xml_escape(top_hash), xml_text(details));
          break;
        case Verdict::kNoTrials:
          out += "      <skipped message=\"no trial was recorded for this cell\"/>\n";
          break;
        case Verdict::kPassed:
          break;
      }
      fmt::format_to(it, "      <system-out>{}{}</system-out>\n", xml_text(cell_summary(*cell)),
                     xml_text(fmt::format("\nverdict: {}", describe(cell->verdict))));
      out += "    </testcase>\n";
    }
    for (const SkippedCellRow* row : skipped_here) {
      fmt::format_to(it,
                     "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">\n      <properties>\n"
                     "        <property name=\"verdict\" value=\"skipped\"/>\n"
                     "        <property name=\"expect\" value=\"{}\"/>\n"
                     "        <property name=\"cpu_model\" value=\"{}\"/>\n      </properties>\n"
                     "      <skipped message=\"{}\"/>\n    </testcase>\n",
                     xml_escape("flakelab." + or_dash(scenario)), xml_escape(testcase_name(row->cell)),
                     xml_escape(row->expect.value_or("pass")), xml_escape(or_dash(row->cell.cpu_model)),
                     xml_escape("skipped on this machine: " + row->reason));
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

std::string render_report(const ReportData& data, ReportFormat format) {
  switch (format) {
    case ReportFormat::kText:
      return render_text(data);
    case ReportFormat::kJson:
      return render_json(data);
    case ReportFormat::kJunit:
      return render_junit(data);
    case ReportFormat::kHtml:
      return render_html(data);
    case ReportFormat::kMarkdown:
      return render_markdown(data);
  }
  throw std::invalid_argument("render_report: invalid format");
}

}  // namespace flakelab::results
