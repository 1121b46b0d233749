// Reports over a whole results store (or a filtered part of it): text, JSON, JUnit XML, HTML.
//
// collect_report() runs the queries once; the render_* functions only format, so one
// ReportData can be rendered in every format. Output depends only on the database contents
// and the options (no "generated at" time), so the same DB gives byte-identical reports; the
// HTML page also on which kept artifact directories exist (it links only those).
// The formats are described in results/REPORTS.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/results/kept_artifacts.h"
#include "flakelab/results/query.h"
#include "flakelab/results/store.h"

namespace flakelab::results {

enum class ReportFormat { kText, kJson, kJunit, kHtml, kMarkdown };
// "text", "json", "junit", "html", "markdown".
const char* to_string(ReportFormat format);
std::optional<ReportFormat> report_format_from_string(std::string_view text);

struct ReportOptions {
  Filter filter;
  std::string title = "flakelab results";
  std::size_t max_signatures = 25;      // in the signature table/chart (the JSON has them all)
  std::size_t signatures_per_cell = 3;  // listed per cell (text, JUnit, JSON)
  std::size_t max_message_bytes = 300;  // example messages in text/HTML are cut to this
  std::size_t examples_per_signature = 3;  // failing trials shown per signature (HTML), distinct cells first
  // The directory the HTML page will be written to: links to kept artifacts are relative to it
  // ("" = the current directory). See find_kept_artifacts().
  std::string page_dir;
};

// One failing trial of a signature, with what is left of it on this machine.
struct SignatureExample {
  std::string hash;
  SignatureTrial trial;
  KeptArtifacts artifacts;
};

struct ReportData {
  std::string title;
  Filter filter;
  std::size_t max_signatures = 25;
  std::size_t max_message_bytes = 300;
  Counts totals;
  std::vector<CellRate> cells;
  std::vector<SignatureStats> signatures;     // all, most frequent first
  std::vector<CellSignature> cell_signatures;  // per cell, up to signatures_per_cell each
  std::vector<FirstFailure> first_failures;    // one per cell, same order as cells
  std::vector<RunRate> runs;                   // by start time
  std::vector<SkippedCellRow> skipped;         // planned cells that could not run, none of them in `cells`
  // For the first max_signatures signatures, in their order: up to examples_per_signature each.
  std::vector<SignatureExample> signature_examples;
};

ReportData collect_report(Store& store, const ReportOptions& options = {});

std::string render_text(const ReportData& data);
// Schema "flakelab-report/1", see REPORTS.md.
std::string render_json(const ReportData& data);
// One <testcase> per cell. See REPORTS.md for how flaky cells are marked.
std::string render_junit(const ReportData& data);
// One self-contained page (inline CSS, SVG and a small script that sorts and filters the
// tables; no network). Charts and text need no script.
std::string render_html(const ReportData& data);
// GitHub-flavoured Markdown (e.g. a CI job summary): totals, the cell table with the
// failing cells first, and the top signatures.
std::string render_markdown(const ReportData& data);
std::string render_report(const ReportData& data, ReportFormat format);

// Helpers, exposed for tests.
std::string xml_escape(std::string_view text);  // also drops characters XML 1.0 forbids
std::string cell_label(const CellKey& cell);    // "scenario [placement] params @ cpu"

}  // namespace flakelab::results
