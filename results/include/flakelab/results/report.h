// Human-readable reports of run summaries.
#pragma once

#include <cstddef>
#include <string>

#include "flakelab/results/store.h"

namespace flakelab::results {

struct TextReportOptions {
  std::size_t max_messages = 10;         // distinct messages listed; the rest are counted
  std::size_t max_message_bytes = 160;   // longer messages are cut (at a UTF-8 boundary)
  // Also list the run's failure signatures (RunSummary::signatures), after the messages:
  //   signatures:
  //        127  badd9ec3c6a61031  Saved data unexpectedly modified at <hex> (offset <n>)
  bool show_signatures = false;
  // List the distinct raw messages (`flakelab run` shows only the signatures).
  bool show_messages = true;
};

// A compact, deterministic table, e.g.
//   run 3  compel/stack  check=legacy,adjacent_writer=on  placement victim=0,injector=1
//     trials 2000  pass 1873  fail 127  timeout 0  error 0
//     failure rate 6.35%  (95% Wilson 5.36% .. 7.51%)
//     messages:
//        127  Saved data unexpectedly modified at 0x7f... (offset 12)
// With no failures or timeouts the rate line gives the one-sided 95% upper bound instead:
//     0 failures; rate < 0.150% at 95% (upper bound 1-0.05^(1/2000))
// Percentages have two decimals, or three significant digits below 1%; upper bounds are
// rounded up so the printed claim is never stronger than the data.
std::string format_summary_text(const RunSummary& summary);
std::string format_summary_text(const RunSummary& summary, const TextReportOptions& options);

}  // namespace flakelab::results
