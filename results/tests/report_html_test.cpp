// The HTML page (report_html*.cpp): charts that keep cells apart, the summary first, the
// placement x CPU heatmap, the runs and signature tables with artifact links, and the page as
// headless Chromium renders it (no clipped label, no JS error, sorting and filtering work).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fixtures.h"
#include "flakelab/results/reports.h"
#include "shell.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using namespace testing;  // NOLINT: fixtures

constexpr int64_t kT0 = 1'763'900'000'000;

// A database like a real campaign's: scm06 swept over restore_delay_us with the policy on (must
// pass: 0 of 2000 at delay 0) and off (expected flaky: 200 of 200 at delay 0); a size sweep that
// spans six decades; one cell on two CPU models (failing on one only); a cell whose every trial
// errored; a cell with timeouts; an unexpected failure under a placement label far longer than
// 56 bytes; a skipped cell.
struct SweepFixture {
  static constexpr const char* kLongPlacement =
      "victim=0,injector=1,helper=2,noise=3+4+5+6+7,memory-pressure=stress-ng-vm-4x256M,irq-affinity=isolated";
  TempDir dir;
  std::string path = dir.file("sweep.db");

  SweepFixture() {
    Store store(path, 128);
    const int64_t e = store.upsert_host(epyc());
    const int64_t x = store.upsert_host(xeon());
    int64_t at = kT0;
    auto trials = [&](int64_t host, const std::string& scenario, const std::string& params,
                      const std::string& placement, const char* expect, int64_t n, int64_t every) {
      RunInfo info = testing::make_run(scenario, params, placement, at += 60'000);
      info.expect = expect;
      const int64_t r = store.begin_run(host, info);
      add_trials(store, r, n, every, scenario == "scm06" ? bind_message : stack_message, at);
      store.end_run(r, at + 30'000);
    };
    for (int delay : {0, 500, 2000}) {
      const std::string d = std::to_string(delay);
      trials(e, "scm06", "policy=off,restore_delay_us=" + d, "unpinned", "flaky", 200, delay == 0 ? 1 : delay / 100);
      trials(e, "scm06", "policy=on,restore_delay_us=" + d, "unpinned", "pass", delay == 0 ? 2000 : 200, 0);
    }
    for (int64_t size : {0, 4, 4096, 4'194'304}) {
      trials(e, "mm/huge", "size_kb=" + std::to_string(size), "unpinned", "flaky", 200, size > 4096 ? 50 : 0);
    }
    trials(e, "compel/stack", "check=legacy", "victim=0,injector=1", "flaky", 100, 10);
    trials(x, "compel/stack", "check=legacy", "victim=0,injector=1", "flaky", 100, 0);
    trials(e, "compel/stack", "check=guard_zone", kLongPlacement, "pass", 100, 100);
    RunInfo broken = testing::make_run("broken", "", "unpinned", at += 60'000);
    broken.expect = "pass";
    const int64_t r = store.begin_run(e, broken);
    for (int64_t i = 0; i < 3; ++i) store.add_trial(r, make_trial(i, Outcome::kError, "seize 4242: Operation not permitted", at));
    store.end_run(r, at + 1000);
    RunInfo hung = testing::make_run("net/sock", "", "unpinned", at += 60'000);
    hung.expect = "pass";
    const int64_t h = store.begin_run(e, hung);
    for (int64_t i = 0; i < 50; ++i) {
      store.add_trial(h, make_trial(i, i % 25 == 24 ? Outcome::kTimeout : Outcome::kPass,
                                    i % 25 == 24 ? "trial timed out after 10 s" : "", at));
    }
    store.end_run(h, at + 1000);
    store.add_skipped_cell(e, SkippedCell{"inv-1", "compel/stack", "check=legacy", "victim=0,injector=0+smt", "flaky",
                                          "needs SMT siblings; this machine has 1 thread per core", at});
  }
};

std::string svg_of(const std::string& html, const std::string& id) {
  const std::size_t begin = html.find("<svg id=\"" + id + "\"");
  if (begin == std::string::npos) return {};
  return html.substr(begin, html.find("</svg>", begin) - begin);
}

TEST(Reports, HtmlChartsKeepCellsApartAndTheSummaryComesFirst) {
  SweepFixture f;
  Store store(f.path);
  const std::string html = render_html(collect_report(store));

  // One curve per cell: policy on and off are two series, neither pooled into 200/2200 = 9.09%.
  const std::string delay = svg_of(html, "chart-sweep-restore_delay_us");
  ASSERT_FALSE(delay.empty()) << html;
  EXPECT_EQ(occurrences(delay, "<g class=\"series\""), 2u) << delay;
  EXPECT_THAT(delay, HasSubstr("scm06 [unpinned] policy=off @ AMD EPYC 7763 64-Core Processor restore_delay_us=0: "
                               "200/200 failing (100%)"));
  EXPECT_THAT(delay, HasSubstr("scm06 [unpinned] policy=on @ AMD EPYC 7763 64-Core Processor restore_delay_us=0: "
                               "0/2000 failing (0%)"));
  EXPECT_THAT(delay, Not(HasSubstr("9.09")));
  EXPECT_THAT(delay, HasSubstr("data-x-scale=\"linear\""));
  // Every swept numeric parameter gets a chart; six decades and a 0 get a log axis.
  const std::string size = svg_of(html, "chart-sweep-size_kb");
  ASSERT_FALSE(size.empty());
  EXPECT_THAT(size, HasSubstr("data-x-scale=\"log\""));
  EXPECT_THAT(size, HasSubstr(">0</text>"));
  EXPECT_THAT(size, HasSubstr(">1e+06</text>"));
  EXPECT_THAT(html, Not(HasSubstr("chart-sweep-policy")));

  // One bar per (cell, CPU model); labels whole; errors named; colours from the verdict.
  const std::string bars = svg_of(html, "chart-placement");
  EXPECT_EQ(occurrences(bars, ">compel/stack check=legacy [victim=0,injector=1] @ "), 2u) << bars;
  EXPECT_THAT(bars, HasSubstr("@ AMD EPYC 7763 64-Core Processor</text>"));
  EXPECT_THAT(bars, HasSubstr("@ Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz</text>"));
  EXPECT_THAT(bars, HasSubstr(std::string("[") + SweepFixture::kLongPlacement + "] @ AMD"));
  EXPECT_THAT(bars, HasSubstr(">3 errors</text>"));
  EXPECT_THAT(bars, Not(HasSubstr(">0/3</text>")));
  EXPECT_THAT(bars, HasSubstr(">2/50 (2 timeouts)</text>"));
  EXPECT_THAT(bars, Not(HasSubstr("...")));
  EXPECT_THAT(bars, HasSubstr("fill=\"#d62728\""));  // unexpected failure
  EXPECT_THAT(bars, HasSubstr("fill=\"#6a3d9a\""));  // unexpected error
  EXPECT_THAT(bars, HasSubstr("fill=\"#ff7f0e\""));  // flaky as expected
  EXPECT_THAT(html, HasSubstr("<p class=\"legend\"><span class=\"swatch\""));
  // The runs chart marks the unexpected failure (square) and the errored run (cross).
  const std::string runs = svg_of(html, "chart-runs");
  EXPECT_EQ(occurrences(runs, "class=\"marker unexpected\""), 2u);  // guard zone, timeouts
  EXPECT_EQ(occurrences(runs, "class=\"marker error\""), 1u);

  // The verdict comes before any chart: what failed unexpectedly, what is flaky as expected,
  // what was skipped and why.
  const std::size_t summary = html.find("<section id=\"summary\">");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_LT(summary, html.find("<svg"));
  const std::string section = html.substr(summary, html.find("</section>") - summary);
  EXPECT_THAT(section, HasSubstr("UNEXPECTED results."));
  auto list = [&](const std::string& id) {
    const std::size_t at = section.find("id=\"" + id + "\"");
    return at == std::string::npos ? std::string() : section.substr(at, section.find("</ul>", at) - at);
  };
  const std::string unexpected = list("summary-unexpected");
  EXPECT_THAT(unexpected, HasSubstr("check=guard_zone @ AMD EPYC 7763 64-Core Processor</b>: UNEXPECTED failure"));
  EXPECT_THAT(unexpected, HasSubstr("<b>broken [unpinned] - @ AMD EPYC 7763 64-Core Processor</b>: UNEXPECTED error"));
  EXPECT_THAT(unexpected, HasSubstr("<b>net/sock [unpinned] - @ AMD EPYC 7763 64-Core Processor</b>: UNEXPECTED "
                                     "failure; 1 run, 50 trials: 48 pass, 0 fail, 2 timeout, 0 error"));
  EXPECT_EQ(occurrences(unexpected, "<li>"), 3u);
  const std::string flaky = list("summary-flaky");
  EXPECT_THAT(flaky, HasSubstr("policy=off,restore_delay_us=0"));
  EXPECT_THAT(flaky, Not(HasSubstr("policy=on")));
  EXPECT_THAT(list("summary-skipped"),
              HasSubstr("check=legacy @ AMD EPYC 7763 64-Core Processor</b> (expect flaky): needs SMT siblings; "
                        "this machine has 1 thread per core"));
}

// Renders the rich page in Debian's headless Chromium. A script added to the page under test
// records JS errors, compares every chart <text>'s bounding box with its SVG's viewBox, checks
// that no table cell overflows and the page is no wider than the window, sorts the cells table
// and filters the runs table with the page's own script, and reads the rendered text; the
// screenshot must not be blank and must show the charts' colours.
// FLAKELAB_REPORT_SCREENSHOT=path keeps the screenshot (a CI artifact).
TEST(Reports, HtmlRendersInHeadlessChromiumWithNoClippedLabel) {
  const char* chromium = nullptr;
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (executable(candidate)) {
      chromium = candidate;
      break;
    }
  }
  if (chromium == nullptr) GTEST_SKIP() << "Debian's chromium package is not installed";
  ASSERT_TRUE(executable("/usr/bin/python3"));
  SweepFixture f;
  Store store(f.path);
  TempDir dir;
  std::string html = render_html(collect_report(store));
  const std::string shot = dir.file("shot.png");
  const std::string common = std::string("timeout 120 ") + chromium +
                             " --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
                             " --user-data-dir=" + dir.file("profile") + " --window-size=1400,3200 ";
  std::string output;
  const std::string page = write(dir, "report.html", html);
  ASSERT_EQ(run(common + "--screenshot=" + shot + " file://" + page, &output), 0) << output;
  if (const char* keep = std::getenv("FLAKELAB_REPORT_SCREENSHOT"); keep != nullptr && *keep != '\0') {
    std::ifstream in(shot, std::ios::binary);
    std::ofstream out(keep, std::ios::binary);
    out << in.rdbuf();
    EXPECT_TRUE(out.good()) << "writing the screenshot to " << keep;
  }
  const std::size_t head = html.find("<head>");
  const std::size_t body_end = html.find("</body>");
  ASSERT_NE(head, std::string::npos);
  ASSERT_NE(body_end, std::string::npos);
  html.insert(body_end, R"js(<script>
try {
  var clipped = [], texts = 0;
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    var vb = svg.viewBox.baseVal;
    svg.querySelectorAll("text").forEach(function (t) {
      texts++;
      var b = t.getBBox();
      if (b.width <= 0 || b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 ||
          b.y + b.height > vb.y + vb.height + 0.5)
        clipped.push(svg.id + ": " + t.textContent + " [" + [b.x, b.y, b.width, b.height].join(",") + "]");
    });
  });
  // Table text wraps rather than overflowing its cell or the page.
  document.querySelectorAll("td, th").forEach(function (c) {
    if (c.scrollWidth > c.clientWidth + 1 || c.scrollHeight > c.clientHeight + 1)
      clipped.push("table cell: " + c.textContent.slice(0, 80));
  });
  // At this window width the fixture's tables fit without scrolling in their boxes.
  document.querySelectorAll("div.scroll").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth) clipped.push("table wider than the window: " + box.querySelector("table").id);
  });
  if (document.documentElement.scrollWidth > window.innerWidth) {
    var wide = [];
    document.querySelectorAll("body > *").forEach(function (e) {
      if (e.getBoundingClientRect().right > window.innerWidth) wide.push(e.tagName + "#" + e.id);
    });
    clipped.push("page wider than the window: " + document.documentElement.scrollWidth + ": " + wide.join(" "));
  }
  // Sort the cells table by trials, both ways; filter the runs table.
  function column(table, name) {
    var cells = table.tHead.rows[0].cells;
    for (var i = 0; i < cells.length; i++) if (cells[i].textContent === name) return i;
    return -1;
  }
  var cellsTable = document.getElementById("cells"), trials = column(cellsTable, "trials");
  var header = cellsTable.tHead.rows[0].cells[trials];
  header.click();
  var ascending = Array.prototype.map.call(cellsTable.tBodies[0].rows, function (r) { return +r.cells[trials].textContent; });
  header.click();
  var descending = Array.prototype.map.call(cellsTable.tBodies[0].rows, function (r) { return +r.cells[trials].textContent; });
  var runsTable = document.getElementById("runs"), filter = runsTable.previousElementSibling.querySelector("input");
  filter.value = "policy=off EPYC";
  filter.dispatchEvent(new Event("input"));
  var shown = Array.prototype.filter.call(runsTable.tBodies[0].rows, function (r) { return !r.hidden; })
                .map(function (r) { return r.cells[2].textContent; });
  var count = runsTable.previousElementSibling.querySelector(".filter-count").textContent;
  var pre = document.createElement("pre");
  pre.id = "layout-check";
  pre.textContent = JSON.stringify({texts: texts, clipped: clipped, errors: window.jsErrors, ascending: ascending,
                                    descending: descending, shown: shown, count: count,
                                    filters: document.querySelectorAll(".table-tools input").length,
                                    text: document.body.innerText});
  document.body.appendChild(pre);
} catch (e) { window.jsErrors.push(String(e)); }
</script>
)js");
  html.insert(head + 6, "<script>window.jsErrors = []; window.addEventListener(\"error\", function (e) { "
                        "window.jsErrors.push(String(e.message)); });</script>");
  const std::string checked = write(dir, "checked.html", html);
  output.clear();
  ASSERT_EQ(run(common + "--dump-dom file://" + checked + " > " + dir.file("dom.html"), &output), 0) << output;
  const std::string script = write(dir, "png.py", R"py(
import sys, zlib, struct, re, json, html
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width = 8, b"", 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
        bpp = 3 if color == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
white = 0
colours = {"pass": (0x1f, 0x77, 0xb4), "flaky": (0xff, 0x7f, 0x0e), "unexpected": (0xd6, 0x27, 0x28)}
seen = dict.fromkeys(colours, 0)
for y in range(height):
    ftype = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 1: line[i] = (line[i] + a) & 255
        elif ftype == 2: line[i] = (line[i] + b) & 255
        elif ftype == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif ftype == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if r > 245 and g > 245 and bl > 245: white += 1
        for name, (cr, cg, cb) in colours.items():
            if abs(r - cr) < 12 and abs(g - cg) < 12 and abs(bl - cb) < 12: seen[name] += 1
    prev = line
total = width * height
assert white < total * 0.98, "blank screenshot (%d of %d pixels white)" % (white, total)
assert seen["flaky"] > 2000 and seen["pass"] > 200 and seen["unexpected"] > 50, seen
dom = open(sys.argv[2], encoding="utf-8").read()
charts = re.findall(r'<svg id="(chart-[a-z_-]+)"', dom)
assert charts == ["chart-placement", "chart-sweep-restore_delay_us", "chart-sweep-size_kb", "chart-signatures",
                  "chart-runs"], charts
check = re.search(r'<pre id="layout-check">(.*?)</pre>', dom, re.S)
assert check, "the layout check did not run"
result = json.loads(html.unescape(check.group(1)))
assert result["errors"] == [], result["errors"]
assert result["texts"] > 60, result["texts"]
assert result["clipped"] == [], "clipped labels:\n" + "\n".join(result["clipped"])
assert result["filters"] == 4, result["filters"]  # heatmap, cells, signatures, runs
assert result["ascending"] == sorted(result["ascending"]) and result["ascending"][0] == 3, result["ascending"]
assert result["descending"] == sorted(result["ascending"], reverse=True), result["descending"]
assert len(result["shown"]) == 3 and all("policy=off" in c and "EPYC" in c for c in result["shown"]), result["shown"]
assert result["count"] == "3 of 15 rows", result["count"]
text = result["text"]
for expected in ["UNEXPECTED results.", "Placement \u00d7 CPU model", "flaky, expected", "UNEXPECTED error",
                 "skipped needs SMT siblings; this machine has 1 thread per core", "Signature examples",
                 "run 1 trial 0 (fail", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "flakelab run scm06"]:
    assert expected in text, expected
print("ok", width, height, white, seen, result["texts"], "texts inside their SVG")
)py");
  output.clear();
  EXPECT_EQ(run("/usr/bin/python3 " + script + " " + shot + " " + dir.file("dom.html"), &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("ok"));
}

// The row of the heatmap whose first three cells are scenario, params and placement.
std::string heatmap_row(const std::string& html, const std::string& scenario, const std::string& params,
                        const std::string& placement) {
  const std::size_t table = html.find("<table id=\"heatmap\"");
  if (table == std::string::npos) return {};
  auto breakable = [](std::string text) {
    for (std::size_t at = text.find(','); at != std::string::npos; at = text.find(',', at + 6)) text.insert(at + 1, "<wbr>");
    return text;
  };
  const std::string head = "<tr><td class=\"key\">" + scenario + "</td><td>" + breakable(params) + "</td><td>" +
                           breakable(placement) + "</td>";
  const std::size_t row = html.find(head, table);
  if (row == std::string::npos || row > html.find("</table>", table)) return {};
  return html.substr(row, html.find("</tr>", row) - row);
}

TEST(Reports, HtmlHeatmapIsPlacementByCpuModelWithVerdictsAndSkips) {
  SweepFixture f;
  Store store(f.path);
  const std::string html = render_html(collect_report(store));
  const std::size_t heatmap = html.find("<table id=\"heatmap\" class=\"sortable heatmap\">");
  ASSERT_NE(heatmap, std::string::npos);
  EXPECT_LT(html.find("<section id=\"summary\">"), heatmap);
  EXPECT_LT(heatmap, html.find("<svg"));
  // One column per CPU model, in natural order.
  EXPECT_THAT(html, HasSubstr("<th>placement</th><th data-type=\"num\">AMD EPYC 7763 64-Core Processor</th>"
                              "<th data-type=\"num\">Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz</th></tr>"));
  // The cell that fails on one CPU and never on the other: two squares in one row.
  const std::string legacy = heatmap_row(html, "compel/stack", "check=legacy", "victim=0,injector=1");
  EXPECT_THAT(legacy, HasSubstr("<td class=\"heat h3\" data-sort=\"0.100000000\""));
  EXPECT_THAT(legacy, HasSubstr("<span class=\"rate\">10.00%</span> <span class=\"counts\">10/100</span> "
                                "<span class=\"tag\" style=\"background:#ff7f0e\">flaky, expected</span>"));
  EXPECT_THAT(legacy, HasSubstr("<td class=\"heat h0\" data-sort=\"0.000000000\""));
  EXPECT_THAT(legacy, HasSubstr(">0%</span> <span class=\"counts\">0/100</span> <span class=\"tag\" "
                                "style=\"background:#1f77b4\">pass</span>"));
  // Skipped on the EPYC with its reason; never planned on the Xeon.
  const std::string skipped = heatmap_row(html, "compel/stack", "check=legacy", "victim=0,injector=0+smt");
  EXPECT_THAT(skipped, HasSubstr("<td class=\"heat skipped\" data-sort=\"-2\"><span class=\"tag\">skipped</span> "
                                 "needs SMT siblings; this machine has 1 thread per core</td>"
                                 "<td class=\"heat none\" data-sort=\"-3\">not run</td>"));
  // Unexpected results are framed and tagged; an errored cell has no rate.
  const std::string broken = heatmap_row(html, "broken", "-", "unpinned");
  EXPECT_THAT(broken, HasSubstr("class=\"heat h0 unexpected\" data-sort=\"-1\""));
  EXPECT_THAT(broken, HasSubstr(">no rate</span> <span class=\"counts\">3 errors</span>"));
  EXPECT_THAT(broken, HasSubstr(">UNEXPECTED error</span>"));
  const std::string guard = heatmap_row(html, "compel/stack", "check=guard_zone", SweepFixture::kLongPlacement);
  EXPECT_THAT(guard, HasSubstr("class=\"heat h2 unexpected\""));
  EXPECT_THAT(guard, HasSubstr(">1/100</span> <span class=\"tag\" style=\"background:#d62728\">UNEXPECTED</span>"));
  const std::string timeouts = heatmap_row(html, "net/sock", "-", "unpinned");
  EXPECT_THAT(timeouts, HasSubstr(">2/50 (2 timeouts)</span>"));
  // The swept cells are rows of their own: policy off fails at every delay, on never.
  EXPECT_THAT(heatmap_row(html, "scm06", "policy=off,restore_delay_us=0", "unpinned"),
              HasSubstr("class=\"heat h5\""));
  EXPECT_THAT(heatmap_row(html, "scm06", "policy=on,restore_delay_us=0", "unpinned"),
              HasSubstr(">0/2000</span>"));
}

TEST(Reports, HtmlRunsTableSaysHowEachRunWasMade) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  {
    Store store(path);
    HostInfo guest = epyc();
    guest.hypervisor = "bhyve";
    guest.vcpus = 254;
    const int64_t h = store.upsert_host(guest);
    RunInfo cli = make_run("cr/threads", "engine=cli,engine_cli=/usr/sbin/criu,engine_version=Version: 3.19",
                           "same-l3", kT0);
    cli.seed = 12345678901234567890ULL;  // above INT64_MAX
    cli.command_line = "flakelab run cr/threads --engine-cli criu -n 5 --label '<x>'";
    cli.version = "0.9.1";
    cli.expect = "pass";
    int64_t r = store.begin_run(h, cli);
    add_trials(store, r, 5, 0, stack_message, kT0);
    store.end_run(r, kT0 + 1000);
    r = store.begin_run(h, make_run("cr/memory", "engine=library", "unpinned", kT0 + 2000));
    add_trials(store, r, 5, 0, stack_message, kT0 + 2000);
    r = store.begin_run(h, make_run("cmd", "", "unpinned", kT0 + 4000));
    add_trials(store, r, 5, 0, stack_message, kT0 + 4000);
  }
  Store store(path);
  const std::string html = render_html(collect_report(store));
  const std::size_t table = html.find("<table id=\"runs\" class=\"sortable\">");
  ASSERT_NE(table, std::string::npos);
  const std::string runs = html.substr(table, html.find("</table>", table) - table);
  EXPECT_THAT(runs, HasSubstr("<th>host</th><th>machine</th><th data-type=\"num\">seed</th><th>engine</th>"
                              "<th>flakelab</th><th>command line</th>"));
  EXPECT_THAT(runs, HasSubstr("<td>pass</td><td>ci-runner-17</td><td>bhyve, 254 vCPUs</td>"
                              "<td class=\"n\">12345678901234567890</td>"
                              "<td>cli /usr/sbin/criu (Version: 3.19)</td><td>0.9.1</td>"
                              "<td class=\"cmd\"><code>flakelab run cr/threads --engine-cli criu -n 5 --label "
                              "&apos;&lt;x&gt;&apos;</code></td>"));
  EXPECT_THAT(runs, HasSubstr("<td class=\"n\">42</td><td>flakelab library</td><td>0.1.0</td>"));
  EXPECT_THAT(runs, HasSubstr("<td class=\"n\">42</td><td>-</td><td>0.1.0</td><td class=\"cmd\"><code>flakelab run "
                              "cmd</code>"));
}

// Failing trials of one signature in two cells, kept in a directory with the files the harness
// keeps, kept on another machine, and not kept at all.
TEST(Reports, HtmlSignatureExamplesLinkToKeptArtifacts) {
  TempDir dir;
  const std::string path = dir.file("examples.db");
  const std::string kept = dir.file("my arts/inv/cell-1/trial-3");
  std::filesystem::create_directories(kept + "/images");
  for (const char* name : {"trial.txt", "output.log"}) write(dir, std::string("my arts/inv/cell-1/trial-3/") + name, "x\n");
  {
    Store store(path);
    const int64_t e = store.upsert_host(epyc());
    const int64_t x = store.upsert_host(xeon());
    const int64_t a = store.begin_run(e, make_run("compel/stack", "check=legacy", "unpinned", kT0));
    for (int64_t i = 0; i < 10; ++i) {
      TrialRecord t = make_trial(i, i == 3 || i == 7 ? Outcome::kFail : Outcome::kPass,
                                 i == 3 || i == 7 ? stack_message(i) : "", kT0 + i);
      if (i == 3) {
        t.artifact_path = kept;
        t.log_excerpt = "== output.log ==\nparasite <said> goodbye\n";
      }
      if (i == 7) t.artifact_path = "/nonexistent/inv/cell-1/trial-7";
      store.add_trial(a, t);
    }
    store.end_run(a, kT0 + 100);
    const int64_t b = store.begin_run(x, make_run("compel/stack", "check=legacy", "unpinned", kT0 + 1000));
    store.add_trial(b, make_trial(0, Outcome::kPass));
    store.add_trial(b, make_trial(1, Outcome::kFail, stack_message(1), kT0 + 1001));
    store.end_run(b, kT0 + 1100);
  }
  Store store(path);
  ReportOptions options;
  options.page_dir = dir.file("site");
  options.examples_per_signature = 2;
  ReportData data = collect_report(store, options);
  ASSERT_EQ(data.signatures.size(), 1u);
  // Two examples from two cells (trial 3 on the EPYC, trial 1 on the Xeon), not trials 3 and 7.
  ASSERT_EQ(data.signature_examples.size(), 2u);
  EXPECT_EQ(data.signature_examples[0].trial.index, 3);
  EXPECT_EQ(data.signature_examples[1].trial.index, 1);
  EXPECT_EQ(data.signature_examples[1].trial.cell.cpu_model, xeon().cpu_brand);
  std::string html = render_html(data);
  const std::string hash = data.signatures[0].hash;
  EXPECT_THAT(html, HasSubstr("<td><a href=\"#sig-" + hash + "\"><code class=\"hash\">" + hash + "</code></a></td>"));
  EXPECT_THAT(html, HasSubstr("<section class=\"signature\" id=\"sig-" + hash + "\">"));
  // Relative to the page's directory, percent-encoded; only the files that are there.
  EXPECT_THAT(html, HasSubstr("artifacts: <a class=\"artifact\" href=\"../my%20arts/inv/cell-1/trial-3/\">trial-3/</a> "
                              "<a class=\"artifact\" href=\"../my%20arts/inv/cell-1/trial-3/trial.txt\">trial.txt</a> "
                              "<a class=\"artifact\" href=\"../my%20arts/inv/cell-1/trial-3/output.log\">output.log</a> "
                              "<a class=\"artifact\" href=\"../my%20arts/inv/cell-1/trial-3/images/\">images/</a>"
                              "</div>"));
  EXPECT_THAT(html, Not(HasSubstr("engine.log\">")));
  EXPECT_THAT(html, HasSubstr("<pre>== output.log ==&#10;parasite &lt;said&gt; goodbye&#10;</pre>"));
  EXPECT_THAT(html, HasSubstr("<b>run 2 trial 1</b> (fail, 2.0 ms, "));
  EXPECT_THAT(html, HasSubstr("no artifacts kept"));
  // With three examples the trial kept on another machine is shown without links.
  options.examples_per_signature = 3;
  html = render_html(collect_report(store, options));
  EXPECT_EQ(occurrences(html, "<li class=\"example\">"), 3u);
  EXPECT_THAT(html, HasSubstr("kept at <code>/nonexistent/inv/cell-1/trial-7</code> (not on this machine)"));
  // The cells table links each cell's signatures to their examples.
  EXPECT_THAT(html, HasSubstr("<a href=\"#sig-" + hash + "\"><code class=\"hash\" title="));
}

// Long lists of what behaved as expected fold away; what did not is always shown.
TEST(Reports, HtmlSummaryFoldsLongExpectedListsOnly) {
  TempDir dir;
  const std::string path = dir.file("fold.db");
  {
    Store store(path);
    const int64_t h = store.upsert_host(epyc());
    for (int k = 0; k < 7; ++k) {
      for (const char* expect : {"flaky", "pass"}) {
        RunInfo info = make_run("coin", "k=" + std::to_string(k), expect, kT0 + k);
        info.expect = expect;
        const int64_t r = store.begin_run(h, info);
        add_trials(store, r, 10, 5, stack_message, kT0);
        store.end_run(r, kT0 + 1000);
      }
    }
  }
  Store store(path);
  const std::string html = render_html(collect_report(store));
  EXPECT_THAT(html, HasSubstr("<h3>Flaky as expected</h3>\n<details><summary>7 cells (show)</summary>\n"
                              "<ul id=\"summary-flaky\">"));
  EXPECT_THAT(html, HasSubstr("<h3>Failed unexpectedly</h3>\n<ul id=\"summary-unexpected\">"));
  EXPECT_EQ(occurrences(html, "<details><summary>"), 1u);
}


}  // namespace
}  // namespace flakelab::results
