// The engine's self-checking victims, as the cr/* scenarios see them: how to start
// one and what each bit of its exit status means.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios::cr {

struct CrVictim {
  std::string name;          // scenario name without "cr/": "threads"
  std::string description;   // what the victim holds and checks
  std::vector<ParamSpec> params;   // victim-specific parameters
  // Starts the victim (a child of the caller, sleeping with its state set up).
  // `dir` is a private scratch directory of the trial.
  std::function<pid_t(const TrialContext& ctx, const std::string& dir)> start;
  // Sent to the restored victim before SIGUSR1 asks it to check itself (e.g. a
  // signal its signalfd must deliver); may be empty.
  std::function<void(pid_t)> poke;
  // Exit-status bits the victim reports, lowest first: {bit, what was damaged}.
  std::vector<std::pair<int, std::string>> damage_bits;
};

const std::vector<CrVictim>& cr_victims();

// "registers, TLS" for status 0b1010 of `victim`; unknown bits as "bit 0x40".
std::string describe_damage(const CrVictim& victim, int status);

}  // namespace flakelab::scenarios::cr
