// The HTML report's parts (report_html*.cpp) and the helpers they share. Internal to the
// results library; not installed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "flakelab/results/reports.h"

namespace flakelab::results::html {

// One colour per verdict, shared by bars, the legend, the summary and the heatmap.
const char* verdict_color(Verdict v);
// "1 run", "3 errors".
std::string plural(int64_t n, std::string_view word);
// What a cell's trials came to, errors and timeouts spelled out: "5/200", "5/200 (2 timeouts)",
// "3 errors" for a cell whose every trial errored (it has no failure rate), "0/97, 3 errors".
std::string counts_note(const Counts& c);
// "4.40% (3.58% .. 5.39%)", "&lt; 0.15% (95% upper bound)", "3 errors, no rate" (HTML-escaped).
std::string html_rate(const Counts& counts, double rate, double low, double high, double upper);
// The checkpoint engine a run's params name: "flakelab library", "cli /usr/sbin/criu (Version: 3.19)",
// or "" when the scenario uses none.
std::string engine_of(const CellKey& cell);

// Escaped text with a line-break opportunity after each comma (parameters, placements), so
// that table columns can be narrow without breaking inside a name.
std::string breakable(std::string_view text);

// Placement x CPU model: one row per scenario, parameters and placement, one column per CPU
// model; each square the cell's rate and counts, coloured by rate, marked by verdict; skipped
// cells with their reason.
std::string heatmap_section(const ReportData& data);
// The cells, signatures (with example trials and links to their kept artifacts) and runs tables.
std::string cells_table(const ReportData& data);
std::string signatures_tables(const ReportData& data);
std::string runs_table(const ReportData& data);
// Sorting (click a column header) and filtering (a search box above each table) of every
// table.sortable; without script the tables are static and complete.
extern const char* const kTableScript;
extern const char* const kTableStyle;

}  // namespace flakelab::results::html
