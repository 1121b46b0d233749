// The HTML report's tables: cells, signatures with example trials and links to their kept
// artifacts, runs with how each was made; and the small script that sorts and filters them.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "flakelab/results/machine_kind.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/reports.h"
#include "report_html_parts.h"
#include "report_text.h"

namespace flakelab::results::html {

using namespace report_detail;  // NOLINT: the renderers' shared text helpers

namespace {

// A header cell; numeric columns sort as numbers (their cells give data-sort when the text
// is not a plain number).
std::string th(std::string_view name, bool numeric = false) {
  return fmt::format("<th{}>{}</th>", numeric ? " data-type=\"num\"" : "", name);
}

std::string row_class(Verdict verdict, bool flaky) {
  if (!as_expected(verdict)) return " class=\"unexpected\"";
  return flaky ? " class=\"flaky\"" : "";
}

// What sorts a rate column: the rate, below every rate when there is none.
std::string rate_sort_key(const Counts& counts, double rate) {
  return counts.trials > counts.errors ? fmt::format("{:.9f}", rate) : "-1";
}

}  // namespace

std::string breakable(std::string_view text) {
  std::string out;
  for (const char c : xml_escape(text)) {
    out.push_back(c);
    if (c == ',') out += "<wbr>";
  }
  return out;
}

namespace {

std::string signature_anchor(const std::string& hash) { return "sig-" + hash; }

}  // namespace

std::string cells_table(const ReportData& data) {
  std::string out = "<h2>Cells</h2>\n<div class=\"scroll\"><table id=\"cells\" class=\"sortable\">\n<thead><tr>" + th("scenario") +
                    th("placement") + th("params") + th("cpu") + th("expect") + th("runs", true) +
                    th("trials", true) + th("failing", true) + th("errors", true) +
                    th("rate (95% interval)", true) + th("verdict") + th("trials to first failure", true) +
                    th("top signatures") + "</tr></thead>\n<tbody>\n";
  auto it = std::back_inserter(out);
  for (const CellRate& cell : data.cells) {
    const FirstFailure* ff = first_failure_of(data, cell.cell);
    std::string first = "-";
    double first_key = -1;
    if (ff && ff->runs_with_failure > 0) {
      first = fmt::format("{:.1f} (in {} of {} runs)", ff->mean_trials, ff->runs_with_failure, ff->runs);
      first_key = ff->mean_trials;
    }
    std::string sigs;
    for (const CellSignature* cs : signatures_of(data, cell.cell)) {
      sigs += fmt::format("<a href=\"#{}\"><code class=\"hash\" title=\"{}\">{}</code></a> &#215;{}<br>", signature_anchor(cs->hash),
                          xml_escape(one_line(cs->example_message, 500)), cs->hash, cs->count);
    }
    const ExpectedCounts& by = cell.by_expectation;
    const bool any_flaky = by.flaky.trials > 0, any_pass = by.must_pass.trials > 0;
    const char* expect = any_flaky && any_pass ? "pass+flaky" : any_flaky ? "flaky" : "pass";
    fmt::format_to(it,
                   "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>"
                   "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td data-sort=\"{}\">{}</td>"
                   "<td>{}</td><td data-sort=\"{}\">{}</td><td>{}</td></tr>\n",
                   row_class(cell.verdict, cell.flaky()), xml_escape(or_dash(cell.cell.scenario)),
                   breakable(or_dash(cell.cell.placement)), breakable(or_dash(cell.cell.params)),
                   xml_escape(or_dash(cell.cell.cpu_model)), expect, cell.runs, cell.counts.trials,
                   cell.counts.failing(), cell.counts.errors, rate_sort_key(cell.counts, cell.rate),
                   html_rate(cell.counts, cell.rate, cell.wilson_low, cell.wilson_high, cell.upper_bound),
                   as_expected(cell.verdict) ? describe(cell.verdict) : fmt::format("<b>{}</b>", describe(cell.verdict)),
                   first_key, xml_escape(first), sigs);
  }
  out += "</tbody>\n</table></div>\n";
  return out;
}

std::string signatures_tables(const ReportData& data) {
  std::string out = "<h2>Signatures</h2>\n<div class=\"scroll\"><table id=\"signatures\" class=\"sortable\">\n<thead><tr>" +
                    th("count", true) + th("cells", true) + th("hash") + th("first seen") + th("last seen") +
                    th("normalized") + th("example") + "</tr></thead>\n<tbody>\n";
  auto it = std::back_inserter(out);
  const std::size_t shown = std::min(data.max_signatures, data.signatures.size());
  for (std::size_t i = 0; i < shown; ++i) {
    const SignatureStats& s = data.signatures[i];
    fmt::format_to(it,
                   "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td><a href=\"#{}\"><code class=\"hash\">{}</code></a></td>"
                   "<td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                   s.count, s.cells, signature_anchor(s.hash), s.hash, format_time_ms(s.first_seen_ms),
                   format_time_ms(s.last_seen_ms), xml_escape(one_line(s.normalized, data.max_message_bytes)),
                   xml_escape(one_line(s.example_message, data.max_message_bytes)));
  }
  out += "</tbody>\n</table></div>\n";
  if (shown < data.signatures.size()) {
    fmt::format_to(it, "<p>{} more signatures not shown.</p>\n", data.signatures.size() - shown);
  }
  if (data.signature_examples.empty()) return out;

  // Per signature, failing trials from as many cells as possible, each with its message, the
  // end of its logs and links to what the harness kept of it.
  out += "<h2>Signature examples</h2>\n<p>Up to a few failing trials per signature, from different cells "
         "first. Links open the trial's kept directory (<code>--keep-artifacts</code>): trial.txt, output.log, "
         "engine.log, images/; a path not found on this machine (e.g. from another machine of a merged "
         "database) is shown without links.</p>\n";
  std::string current;
  for (const SignatureExample& example : data.signature_examples) {
    if (example.hash != current) {
      if (!current.empty()) out += "</ol></section>\n";
      current = example.hash;
      const auto stats = std::find_if(data.signatures.begin(), data.signatures.end(),
                                      [&](const SignatureStats& s) { return s.hash == current; });
      fmt::format_to(it, "<section class=\"signature\" id=\"{}\"><h3><code>{}</code> &#215;{}</h3>\n<p><code>{}</code></p><ol>\n",
                     signature_anchor(current), current, stats == data.signatures.end() ? 0 : stats->count,
                     stats == data.signatures.end() ? std::string()
                                                    : xml_escape(one_line(stats->normalized, data.max_message_bytes)));
    }
    const SignatureTrial& t = example.trial;
    fmt::format_to(it, "<li class=\"example\"><b>run {} trial {}</b> ({}, {:.1f} ms, {}) {}<br><code>{}</code>", t.run_id,
                   t.index, to_string(t.outcome), t.duration_ms, format_time_ms(t.recorded_at_ms),
                   xml_escape(cell_label(t.cell)), xml_escape(one_line(t.message, 2000)));
    const KeptArtifacts& kept = example.artifacts;
    if (kept.path.empty()) {
      out += "<div class=\"artifacts\">no artifacts kept</div>";
    } else if (!kept.found) {
      fmt::format_to(it, "<div class=\"artifacts\">kept at <code>{}</code> (not on this machine)</div>",
                     xml_escape(kept.path));
    } else {
      out += "<div class=\"artifacts\">artifacts:";
      for (const ArtifactLink& link : kept.links) {
        fmt::format_to(it, " <a class=\"artifact\" href=\"{}\">{}</a>", xml_escape(link.href), xml_escape(link.name));
      }
      out += "</div>";
    }
    if (!t.log_excerpt.empty()) {
      fmt::format_to(it, "<details><summary>log excerpt</summary><pre>{}</pre></details>", xml_escape(t.log_excerpt));
    }
    out += "</li>\n";
  }
  out += "</ol></section>\n";
  return out;
}

std::string runs_table(const ReportData& data) {
  std::string out = "<h2>Runs</h2>\n<div class=\"scroll\"><table id=\"runs\" class=\"sortable\">\n<thead><tr>" + th("run", true) +
                    th("started") + th("cell") + th("expect") + th("host") + th("machine") + th("seed", true) +
                    th("engine") + th("flakelab") + th("command line") + th("trials", true) + th("failing", true) +
                    th("errors", true) + th("rate (95% Wilson)", true) + "</tr></thead>\n<tbody>\n";
  auto it = std::back_inserter(out);
  for (const RunRate& run : data.runs) {
    const std::string engine = engine_of(run.cell);
    fmt::format_to(it,
                   "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                   "<td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"cmd\"><code>{}</code></td>"
                   "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td data-sort=\"{}\">{}</td></tr>\n",
                   run.run_id, format_time_ms(run.started_at_ms), breakable(cell_label(run.cell)),
                   xml_escape(run.expect.value_or("-")), xml_escape(or_dash(run.hostname)),
                   xml_escape(describe_machine_kind(run.hypervisor, run.vcpus)), run.seed,
                   xml_escape(or_dash(engine)), xml_escape(or_dash(run.version)), xml_escape(or_dash(run.command_line)),
                   run.counts.trials, run.counts.failing(), run.counts.errors, rate_sort_key(run.counts, run.rate),
                   html_rate(run.counts, run.rate, run.wilson_low, run.wilson_high,
                             zero_failure_upper_bound(run.counts.trials)));
  }
  out += "</tbody>\n</table></div>\n";
  return out;
}

const char* const kTableStyle = R"css(
/* A table wider than the window scrolls in its box; the page itself never gets wider. */
.scroll { overflow-x: auto; max-width: 100%; }
.table-tools { margin: 8px 0 2px; font-size: 13px; }
.table-tools input { width: 28em; padding: 2px 4px; }
.filter-count { margin-left: 8px; color: #555; }
table.sortable th { cursor: pointer; user-select: none; }
td { overflow-wrap: break-word; }
th[aria-sort="ascending"]::after { content: " \25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \25BC"; font-size: 10px; }
td code, li code { overflow-wrap: anywhere; }
td.cmd { min-width: 12em; max-width: 36em; }
code.hash { overflow-wrap: normal; white-space: nowrap; }
li.example { margin: 4px 0 8px; }
.artifacts { font-size: 13px; }
.artifacts a { margin-right: 6px; }
table.heatmap td.key { white-space: nowrap; }
table.heatmap td.heat { min-width: 9em; max-width: 18em; text-align: center; border: 1px solid #fff; }
td.heat .rate { font-weight: bold; }
td.heat .counts { font-size: 12px; font-variant-numeric: tabular-nums; }
td.heat.unexpected { outline: 3px solid #000; outline-offset: -3px; }
td.heat.skipped, td.heat.none { color: #555; font-size: 12px; text-align: left; }
.heat .tag, .tag { display: inline-block; font-size: 11px; padding: 0 4px; border-radius: 3px; color: #fff;
  background: #777; white-space: nowrap; }
.h0 { background: #edf5ed; } .h1 { background: #ffeda0; } .h2 { background: #fed976; }
.h3 { background: #feb24c; } .h4 { background: #f03b20; color: #fff; } .h5 { background: #bd0026; color: #fff; }
.skipped { background: repeating-linear-gradient(45deg, #eee, #eee 4px, #ddd 4px, #ddd 8px); }
.none { background: #fafafa; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 6px; font-size: 12px; }
)css";

// Sorting keeps the row order of equal keys (Array.prototype.sort is stable); a second click
// reverses. The filter keeps the rows containing every word typed, case-insensitively.
const char* const kTableScript = R"js(
(function () {
  "use strict";
  function key(cell, numeric) {
    var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (!numeric) return text.toLowerCase();
    var n = parseFloat(text);
    return isNaN(n) ? -Infinity : n;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0], head = table.tHead.rows[0];
    Array.prototype.forEach.call(head.cells, function (header, column) {
      header.tabIndex = 0;
      header.title = "sort by " + header.textContent;
      function sort() {
        var numeric = header.getAttribute("data-type") === "num";
        var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(head.cells, function (h) { h.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column], numeric), y = key(b.cells[column], numeric);
          return (x < y ? -1 : x > y ? 1 : 0) * direction;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      header.addEventListener("click", sort);
      header.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
    var tools = document.createElement("div"), input = document.createElement("input"),
        count = document.createElement("span");
    tools.className = "table-tools";
    input.type = "search";
    input.className = "filter";
    input.placeholder = "filter " + table.id + " (every word must match)";
    input.setAttribute("aria-label", "filter " + table.id);
    count.className = "filter-count";
    function filter() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
      Array.prototype.forEach.call(body.rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
        if (!row.hidden) shown++;
      });
      count.textContent = shown + " of " + body.rows.length + " rows";
    }
    input.addEventListener("input", filter);
    tools.appendChild(input);
    tools.appendChild(count);
    table.parentNode.insertBefore(tools, table);
    filter();
  });
})();
)js";

}  // namespace flakelab::results::html
