// Whole-store reports: text, JSON, JUnit XML (validated against tests/junit.xsd with xmllint and
// parsed with Python's xml.etree), HTML (self-contained, charts present, well-formed SVG; the
// page's parts are tested in report_html_test.cpp).
#include "flakelab/results/machine_kind.h"
#include "flakelab/results/reports.h"
#include "flakelab/results/stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fixtures.h"
#include "shell.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using namespace testing;  // NOLINT: fixtures

constexpr int64_t kT0 = 1'763'900'000'000;
constexpr int64_t kDay = 86'400'000;
// Needs escaping everywhere; has a control character and a byte that is not UTF-8.
const std::string kNastyMessage = "parasite said <\"boom\" & 'bang'>\x01 at 0x10 \xff end";

struct Fixture {
  TempDir dir;
  std::string path = dir.file("report.db");

  Fixture() {
    Store store(path, 128);
    const int64_t e = store.upsert_host(epyc());
    const int64_t x = store.upsert_host(xeon());
    // The reproductions (legacy stack check, scm06 without the policy) are expected to fail;
    // every other cell must pass, so "weird" failing once and "broken" erroring are unexpected.
    auto make_run = [](const std::string& scenario, const std::string& params, const std::string& placement,
                       int64_t started_at_ms) {
      RunInfo run = testing::make_run(scenario, params, placement, started_at_ms);
      run.expect = params == "check=legacy" || scenario == "scm06" ? "flaky" : "pass";
      return run;
    };
    int64_t r = store.begin_run(e, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0));
    add_trials(store, r, 400, 8, stack_message, kT0);  // flaky: 50 of 400
    store.end_run(r, kT0 + 90'000);
    r = store.begin_run(x, make_run("compel/stack", "check=legacy", "victim=0,injector=2", kT0 + kDay));
    add_trials(store, r, 200, 40, stack_message, kT0 + kDay);  // flaky: 5 of 200
    r = store.begin_run(e, make_run("compel/stack", "check=guard_zone", "victim=0,injector=1", kT0 + 2 * kDay));
    add_trials(store, r, 1000, 0, stack_message);  // clean
    for (int delay : {0, 500, 2000, 8000}) {
      r = store.begin_run(e, make_run("scm06", "restore_delay_us=" + std::to_string(delay), "unpinned",
                                      kT0 + 3 * kDay + delay));
      const int every = delay == 0 ? 1 : delay / 250;  // delay 0: every trial fails
      add_trials(store, r, 100, every, bind_message, kT0 + 3 * kDay);
    }
    r = store.begin_run(e, make_run("weird & <odd>", "a=\"1\"", "victim='0'", kT0 + 4 * kDay));
    store.add_trial(r, make_trial(0, Outcome::kPass));
    store.add_trial(r, make_trial(1, Outcome::kFail, kNastyMessage, kT0 + 4 * kDay));
    r = store.begin_run(e, make_run("broken", "", "unpinned", kT0 + 5 * kDay));
    store.add_trial(r, make_trial(0, Outcome::kError, "seize 4242: Operation not permitted", kT0 + 5 * kDay));
    SkippedCell smt{"inv-1", "compel/stack", "check=legacy", "victim=0,injector=0+smt", "flaky",
                    "needs SMT siblings; this machine has 1 thread per core", kT0 + 5 * kDay};
    store.add_skipped_cell(e, smt);
    store.add_skipped_cell(e, smt);  // recorded once
  }
};

TEST(Reports, FormatNames) {
  for (ReportFormat f : {ReportFormat::kText, ReportFormat::kJson, ReportFormat::kJunit, ReportFormat::kHtml,
                         ReportFormat::kMarkdown}) {
    EXPECT_EQ(report_format_from_string(to_string(f)), f);
  }
  EXPECT_FALSE(report_format_from_string("xml").has_value());
}

TEST(Reports, TextHasTheSummaryTables) {
  Fixture f;
  Store store(f.path);
  const std::string text = render_text(collect_report(store));
  EXPECT_THAT(text, HasSubstr("runs 9  cells 9  trials 2003  pass 1781  fail 221  timeout 0  error 1  signatures 4"));
  EXPECT_THAT(text, HasSubstr("Failure rate per cell"));
  EXPECT_THAT(text, HasSubstr("12.50%"));         // legacy on injector=1: 50/400
  EXPECT_THAT(text, HasSubstr("< 0.300%"));       // guard zone: 1-0.05^(1/1000) = 0.2991%
  EXPECT_THAT(text, HasSubstr("flaky"));
  EXPECT_THAT(text, HasSubstr("Trials to first failure"));
  EXPECT_THAT(text, HasSubstr("Signatures (most frequent first)"));
  EXPECT_THAT(text, HasSubstr("unix: Can't bind id <hex> ino <ino> addr : Address already in use"));
  EXPECT_THAT(text, HasSubstr("Runs (by start time)"));
  EXPECT_THAT(text, Not(HasSubstr("\x01")));
  EXPECT_THAT(text, Not(HasSubstr("\xff"))) << "invalid UTF-8 is replaced";
  EXPECT_THAT(text, HasSubstr("parasite said <\"boom\" & 'bang'>  at <hex> \xEF\xBF\xBD end"));
}

// Runs say which kind of machine they ran on (hypervisor and vCPUs, schema v6).
TEST(Reports, RunsShowTheMachineKind) {
  TempDir dir;
  const std::string path = dir.file("vm.db");
  {
    Store store(path);
    HostInfo guest = epyc();
    guest.hypervisor = "bhyve";
    guest.vcpus = 2;
    const int64_t r = store.begin_run(store.upsert_host(guest), testing::make_run("scm06", "", "unpinned", kT0));
    add_trials(store, r, 10, 0, stack_message, kT0);
    HostInfo metal = xeon();
    metal.vcpus = 64;
    const int64_t m = store.begin_run(store.upsert_host(metal), testing::make_run("scm06", "", "unpinned", kT0 + 1));
    add_trials(store, m, 10, 0, stack_message, kT0);
  }
  Store store(path);
  const ReportData data = collect_report(store);
  EXPECT_THAT(render_text(data), HasSubstr("bhyve, 2 vCPUs"));
  EXPECT_THAT(render_text(data), HasSubstr("bare metal, 64 CPUs"));
  EXPECT_THAT(render_html(data), HasSubstr("<td>bhyve, 2 vCPUs</td>"));
  const auto json = nlohmann::json::parse(render_json(data));
  ASSERT_EQ(json["runs"].size(), 2u);
  EXPECT_EQ(json["runs"][0]["hostname"], epyc().hostname);
  EXPECT_EQ(json["runs"][0]["hypervisor"], "bhyve");
  EXPECT_EQ(json["runs"][0]["vcpus"], 2);
  EXPECT_EQ(json["runs"][1]["hypervisor"], "");
  EXPECT_EQ(json["runs"][1]["vcpus"], 64);
}

TEST(Reports, MachineKindWording) {
  EXPECT_EQ(describe_machine_kind("KVM", 1), "KVM, 1 vCPU");
  EXPECT_EQ(describe_machine_kind("", 8), "bare metal, 8 CPUs");
  EXPECT_EQ(describe_machine_kind("", 0), "-") << "recorded before schema v6";
}

// Markdown for a job summary: every cell one table row (failing cells first), cells and
// signatures escaped so that no message can break the table.
TEST(Reports, MarkdownTablesWithFailingCellsFirst) {
  Fixture f;
  Store store(f.path);
  const ReportData data = collect_report(store);
  const std::string md = render_markdown(data);
  EXPECT_THAT(md, HasSubstr("2003 trials: 1781 pass, 221 fail, 0 timeout, 1 error; 4 signatures"));
  EXPECT_THAT(md, HasSubstr("| scenario | placement | params | cpu | trials | failing | errors | rate (95%) |"));
  EXPECT_THAT(md, HasSubstr("12.50% ("));
  EXPECT_THAT(md, HasSubstr("0 (< 0.300%)"));
  EXPECT_THAT(md, HasSubstr("### Signatures"));
  EXPECT_THAT(md, Not(HasSubstr("\x01")));
  EXPECT_THAT(md, Not(HasSubstr("\xff"))) << "invalid UTF-8 is replaced";
  EXPECT_THAT(md, HasSubstr("\\<\"boom\" & 'bang'\\>  at \\<hex\\> \xEF\xBF\xBD end"));
  // Every table row has as many unescaped '|' as the header, whatever the messages hold.
  std::istringstream lines(md);
  std::string line;
  size_t rows = 0, failing_rows_seen_after_clean = 0;
  bool clean_seen = false;
  while (std::getline(lines, line)) {
    if (line.rfind("| ", 0) != 0 || line.find("---") != std::string::npos) continue;
    size_t bars = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') ++i;
      else if (line[i] == '|') ++bars;
    }
    if (line.find("| count |") == 0 || (bars == 5 && line.find("| scenario") != 0)) continue;  // signature table
    EXPECT_EQ(bars, 9u) << line;
    if (line.find("| scenario |") == 0) continue;
    ++rows;
    const bool clean = line.find(" | 0 | 0 | 0 (< ") != std::string::npos;
    if (clean) clean_seen = true;
    else if (clean_seen) ++failing_rows_seen_after_clean;
  }
  EXPECT_EQ(rows, data.cells.size());
  EXPECT_EQ(failing_rows_seen_after_clean, 0u);
}

TEST(Reports, JsonIsParseableAndMatchesTheQueries) {
  Fixture f;
  Store store(f.path);
  const ReportData data = collect_report(store);
  const auto j = nlohmann::json::parse(render_json(data));
  EXPECT_EQ(j["schema"], "flakelab-report/1");
  EXPECT_EQ(j["totals"]["trials"], 2003);
  EXPECT_EQ(j["totals"]["runs"], 9);
  ASSERT_EQ(j["cells"].size(), 9u);
  ASSERT_EQ(j["skipped_cells"].size(), 1u);
  EXPECT_EQ(j["skipped_cells"][0]["reason"], "needs SMT siblings; this machine has 1 thread per core");
  const auto& legacy = j["cells"][2];
  EXPECT_EQ(legacy["scenario"], "compel/stack");
  EXPECT_EQ(legacy["placement"], "victim=0,injector=1");
  EXPECT_EQ(legacy["failures"], 50);
  EXPECT_EQ(legacy["flaky"], true);
  EXPECT_DOUBLE_EQ(legacy["rate"].get<double>(), 0.125);
  EXPECT_EQ(legacy["first_failure"]["min_trials"], 8);
  EXPECT_EQ(legacy["signatures"][0]["count"], 50);
  EXPECT_EQ(legacy["wall_ms"], 90'000);
  const auto& guard = j["cells"][1];
  EXPECT_EQ(guard["params"], "check=guard_zone");
  EXPECT_NEAR(guard["upper_bound"].get<double>(), zero_failure_upper_bound(1000), 1e-12);
  // bind: delay 0 every trial, 500 every 2nd, 2000 every 8th, 8000 every 32nd.
  EXPECT_EQ(j["signatures"][0]["count"], 100 + 50 + 12 + 3);
  EXPECT_EQ(j["signatures"][0]["cells"], 4);
  EXPECT_EQ(j["runs"].size(), 9u);
  EXPECT_EQ(j["runs"][0]["run_uid"].get<std::string>().size(), 36u);
  // The message that is not valid UTF-8 survives as U+FFFD.
  bool found = false;
  for (const auto& s : j["signatures"]) {
    if (s["example_message"].get<std::string>().find("parasite said") != std::string::npos) {
      found = true;
      EXPECT_THAT(s["example_message"].get<std::string>(), HasSubstr("\xEF\xBF\xBD"));
    }
  }
  EXPECT_TRUE(found);
}

TEST(Reports, JunitVerdictsFollowExpectAsRunDoes) {
  Fixture f;
  Store store(f.path);
  const std::string xml = render_junit(collect_report(store));
  TempDir dir;
  const std::string file = write(dir, "junit.xml", xml);
  std::string output;
  if (executable("/usr/bin/xmllint")) {
    EXPECT_EQ(run("/usr/bin/xmllint --noout --schema " FLAKELAB_RESULTS_TEST_DIR "/junit.xsd " + file, &output), 0)
        << output << "\n" << xml;
  } else {
    ADD_FAILURE() << "xmllint (Debian package libxml2-utils) is needed to validate the JUnit output";
  }
  ASSERT_TRUE(executable("/usr/bin/python3"));
  const std::string script = write(dir, "check.py", R"py(
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
cases = root.findall("./testsuite/testcase")
assert int(root.get("tests")) == len(cases) == 10, (root.get("tests"), len(cases))
skipped = [tc for tc in cases if tc.find("skipped") is not None]
assert len(skipped) == 1 and int(root.get("skipped")) == 1, [tc.get("name") for tc in skipped]
assert skipped[0].get("name") == "[victim=0,injector=0+smt] check=legacy", skipped[0].get("name")
assert "needs SMT siblings" in skipped[0].find("skipped").get("message")
def props(tc):
    return {p.get("name"): p.get("value") for p in tc.findall("./properties/property")}
flaky = [tc for tc in cases if props(tc).get("flaky") == "true"]
assert len(flaky) == 6, [tc.get("name") for tc in flaky]
# Expected flaky: green with <flakyFailure>, including scm06 at delay 0 that failed every trial.
expected = [tc for tc in cases if props(tc)["expect"] == "flaky" and tc.find("skipped") is None]
assert len(expected) == 6, [tc.get("name") for tc in expected]
for tc in expected:
    ff = tc.find("flakyFailure")
    assert ff is not None and tc.find("failure") is None, tc.get("name")
    assert ff.get("type").startswith("flakelab.signature."), ff.get("type")
    assert "signature " in ff.find("stackTrace").text
    assert props(tc)["verdict"] == "flaky_expected", props(tc)
    assert "flaky (expected)" in tc.find("system-out").text
# Must pass but failed once: red, whatever the pass/fail mix.
failed = [tc for tc in cases if tc.find("failure") is not None]
assert len(failed) == 1 and failed[0].get("classname") == "flakelab.weird & <odd>", [tc.get("name") for tc in failed]
fail = failed[0].find("failure")
assert fail.get("message").startswith("UNEXPECTED: must not fail, but 1 of 2"), fail.get("message")
msg = fail.get("message")
assert "<\"boom\" & 'bang'>" in msg and "\ufffd" in msg and "\x01" not in msg, repr(msg)
assert len(fail.get("type")) == len("flakelab.signature.") + 16
assert props(failed[0])["verdict"] == "unexpected_failure"
errors = [tc for tc in cases if tc.find("error") is not None]
assert len(errors) == 1 and errors[0].get("classname") == "flakelab.broken"
assert int(root.get("failures")) == 1 and int(root.get("errors")) == 1
# The CPU is a property; the name stays the same when the runner's CPU changes.
legacy = [tc for tc in cases if "check=legacy" in tc.get("name") and tc.find("skipped") is None]
assert len(legacy) == 2 and all("@" not in tc.get("name") for tc in cases), [tc.get("name") for tc in cases]
assert {props(tc)["cpu_model"] for tc in legacy} == {"AMD EPYC 7763 64-Core Processor", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"}
clean = [tc for tc in cases if "guard_zone" in tc.get("name")][0]
assert len(list(clean)) == 2 and props(clean)["upper_bound_95"].startswith("0.0029"), props(clean)
print("ok")
)py");
  output.clear();
  EXPECT_EQ(run("/usr/bin/python3 " + script + " " + file, &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("ok"));
}

// What a CI server shows: python3-junitparser reads the file the way Jenkins' and GitLab's
// readers do (failure/error/skipped children; unknown elements such as <flakyFailure> ignored).
TEST(Reports, AJunitConsumerSeesRedOnlyForUnexpectedCells) {
  Fixture f;
  Store store(f.path);
  TempDir dir;
  const std::string file = write(dir, "junit.xml", render_junit(collect_report(store)));
  const std::string script = write(dir, "consume.py", R"py(
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
red, errored, green, skipped = [], [], [], []
for suite in xml:
    for case in suite:
        kinds = {type(r) for r in case.result}
        if Failure in kinds: red.append(case.classname)
        elif Error in kinds: errored.append(case.classname)
        elif Skipped in kinds: skipped.append(case.name)
        elif case.is_passed: green.append(case.classname)
print("red", sorted(red))
print("errored", sorted(errored))
print("green", len(green))
assert red == ["flakelab.weird & <odd>"], red
assert errored == ["flakelab.broken"], errored
assert len(green) == 7, green
assert skipped == ["[victim=0,injector=0+smt] check=legacy"], skipped
print("ok")
)py");
  std::string output;
  ASSERT_TRUE(executable("/usr/bin/python3"));
  EXPECT_EQ(run("/usr/bin/python3 " + script + " " + file, &output), 0)
      << output << "\n(python3-junitparser comes from ci/bootstrap.sh)";
  EXPECT_THAT(output, HasSubstr("ok"));
}

TEST(Reports, HtmlIsSelfContainedWithTheFourCharts) {
  Fixture f;
  Store store(f.path);
  const std::string html = render_html(collect_report(store));
  for (const char* id : {"chart-placement", "chart-sweep-restore_delay_us", "chart-signatures", "chart-runs"}) {
    EXPECT_THAT(html, HasSubstr(std::string("<svg id=\"") + id + "\"")) << id;
  }
  // No network: one inline script (table sorting), no external resources; links only within
  // the page or, relative, to kept artifacts.
  for (const char* bad : {"src=", "@import", "url(", "<link", "<iframe", "fetch(", "XMLHttpRequest"}) {
    EXPECT_THAT(html, Not(HasSubstr(bad))) << bad;
  }
  EXPECT_EQ(occurrences(html, "://"), occurrences(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(occurrences(html, "<script"), 1u);
  for (std::size_t at = html.find("href=\""); at != std::string::npos; at = html.find("href=\"", at + 1)) {
    EXPECT_EQ(html.compare(at + 6, 5, "#sig-"), 0) << html.substr(at, 60);
  }
  EXPECT_THAT(html, HasSubstr("weird &amp; &lt;odd&gt;"));
  TempDir dir;
  const std::string file = write(dir, "report.html", html);
  const std::string script = write(dir, "check.py", R"py(
import sys, re, xml.etree.ElementTree as ET
from html.parser import HTMLParser
text = open(sys.argv[1], encoding="utf-8").read()
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.svgs = 0; self.markers = 0; self.rects = 0
    def handle_starttag(self, tag, attrs):
        if tag == "svg": self.svgs += 1
        if "marker" in (dict(attrs).get("class") or "").split(): self.markers += 1
        if tag == "rect": self.rects += 1
        if tag not in ("meta", "br", "wbr", "line", "rect", "circle", "path", "polyline"): self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self.stack and self.stack[-1] == tag: self.stack.pop()
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
p = P(); p.feed(text); p.close()
assert not p.stack, p.stack
assert p.svgs == 4, p.svgs
assert p.markers >= 9 + 4, p.markers  # a marker per run and per sweep point
for svg in re.findall(r"<svg.*?</svg>", text, re.S):
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
print("ok")
)py");
  std::string output;
  ASSERT_TRUE(executable("/usr/bin/python3"));
  EXPECT_EQ(run("/usr/bin/python3 " + script + " " + file, &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("ok"));
}

TEST(Reports, DeterministicForTheSameDatabase) {
  Fixture f;
  std::string first[4];
  {
    Store store(f.path);
    const ReportData data = collect_report(store);
    for (ReportFormat fmt : {ReportFormat::kText, ReportFormat::kJson, ReportFormat::kJunit, ReportFormat::kHtml}) {
      first[static_cast<int>(fmt)] = render_report(data, fmt);
    }
  }
  Store store(f.path);
  const ReportData data = collect_report(store);
  for (ReportFormat fmt : {ReportFormat::kText, ReportFormat::kJson, ReportFormat::kJunit, ReportFormat::kHtml}) {
    EXPECT_EQ(render_report(data, fmt), first[static_cast<int>(fmt)]) << to_string(fmt);
  }
}

TEST(Reports, FilteredReportAndEmptyStore) {
  Fixture f;
  Store store(f.path);
  ReportOptions options;
  options.filter.since_ms = kT0 + 3 * kDay;
  const ReportData data = collect_report(store, options);
  EXPECT_EQ(data.runs.size(), 6u);
  EXPECT_THAT(render_text(data), HasSubstr("filter: since 2025-11-26"));

  TempDir dir;
  Store empty(dir.file("empty.db"));
  const ReportData none = collect_report(empty);
  EXPECT_THAT(render_text(none), HasSubstr("runs 0  cells 0  trials 0"));
  EXPECT_THAT(render_html(none), HasSubstr("No trials."));
  EXPECT_EQ(nlohmann::json::parse(render_json(none))["cells"].size(), 0u);
  EXPECT_THAT(render_junit(none), HasSubstr("tests=\"0\""));
}

TEST(Reports, XmlEscape) {
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
  EXPECT_EQ(xml_escape("tab\there\nnl"), "tab&#9;here&#10;nl");
  EXPECT_EQ(xml_escape(std::string("nul\0bell\x07", 9)), "nulbell");
  EXPECT_EQ(xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(xml_escape("bad \xc3 \xed\xa0\x80"), "bad \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace flakelab::results
