// Hosts, runs and trials for results tests.
#pragma once

#include <cstdint>
#include <string>

#include "flakelab/results/store.h"

namespace flakelab::results::testing {

inline HostInfo make_host(const std::string& hostname, const std::string& brand) {
  HostInfo host;
  host.hostname = hostname;
  host.cpu_vendor = brand.find("AMD") != std::string::npos ? "AuthenticAMD" : "GenuineIntel";
  host.cpu_brand = brand;
  host.cpu_family = 25;
  host.cpu_model = 1;
  host.cpu_stepping = 1;
  host.cpu_codename = "Milan";
  host.kernel = "6.18.0";
  host.microcode = "0xa0011d1";
  return host;
}

inline HostInfo epyc() { return make_host("ci-runner-17", "AMD EPYC 7763 64-Core Processor"); }
inline HostInfo xeon() { return make_host("stress-box", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"); }

inline RunInfo make_run(const std::string& scenario, const std::string& params, const std::string& placement,
                        int64_t started_at_ms) {
  RunInfo run;
  run.scenario = scenario;
  run.params = params;
  run.placement = placement;
  run.seed = 42;
  run.command_line = "flakelab run " + scenario;
  run.version = "0.1.0";
  run.started_at_ms = started_at_ms;
  return run;
}

inline TrialRecord make_trial(int64_t index, Outcome outcome, std::string message = {}, int64_t at_ms = 0) {
  TrialRecord t;
  t.index = index;
  t.outcome = outcome;
  t.duration_ms = 2.0;
  t.cpus_used = "victim=0,injector=1";
  t.message = std::move(message);
  t.finished_at_ms = at_ms;
  return t;
}

// "Saved data unexpectedly modified" with varying numbers, one signature.
inline std::string stack_message(int64_t i) {
  return "Saved data unexpectedly modified at 0x7f" + std::to_string(1000 + i) +
         "000 (offset " + std::to_string(8 + i % 5) + " past the parasite stack)";
}
inline std::string bind_message(int64_t i) {
  return "unix: Can't bind id 0x" + std::to_string(i % 9 + 1) + " ino " + std::to_string(433398 + i) +
         " addr : Address already in use";
}

// Adds `trials` trials; trial i fails (with `message(i)`) when i % every == every - 1.
template <typename Message>
void add_trials(Store& store, int64_t run_id, int64_t trials, int64_t every, Message message,
                int64_t first_ms = 1'700'000'000'000) {
  for (int64_t i = 0; i < trials; ++i) {
    const bool fail = every > 0 && i % every == every - 1;
    store.add_trial(run_id, make_trial(i, fail ? Outcome::kFail : Outcome::kPass, fail ? message(i) : "",
                                       first_ms + i));
  }
}

}  // namespace flakelab::results::testing
