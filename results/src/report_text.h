// Text helpers the report renderers share (reports.cpp for text/JSON/JUnit, report_html.cpp).
// Internal to the results library; not installed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/results/reports.h"

namespace flakelab::results::report_detail {

// Cut to at most max_bytes without splitting a UTF-8 sequence; "..." marks a cut.
std::string cut(std::string_view text, std::size_t max_bytes);
// Control characters (newlines of multi-line messages) as spaces, invalid UTF-8 as U+FFFD.
std::string one_line(std::string_view text, std::size_t max_bytes);
std::string or_dash(const std::string& text);
// "all runs", "runs 1,2", "since <time>".
std::string filter_text(const Filter& filter);
const FirstFailure* first_failure_of(const ReportData& data, const CellKey& cell);
std::vector<const CellSignature*> signatures_of(const ReportData& data, const CellKey& cell);

}  // namespace flakelab::results::report_detail
