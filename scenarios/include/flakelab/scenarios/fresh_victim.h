// Victims exec'd after the trial's namespaces exist, for external engines.
//
// A victim forked from the trial process keeps the trial's mappings: the executable and
// its libraries were mapped before the trial host unshared its mount namespace, so they
// name mounts of the harness's namespace, whose ids the trial's /proc/PID/mountinfo does
// not list (mount ids change on unshare). CRIU resolves every mapping and fd through
// mountinfo and refuses such a victim ("Can't lookup mount=27 for fd=-3 path=.../flakelab").
// flakelab's engine saves file mappings by path and does not care, so scenarios fork
// their victims as before for it (no exec's milliseconds in the library engine's timings).
//
// A fresh victim: the trial forks, runs the setup hook (pinning), starts a session of
// its own (the trial's session leader is outside the trial's pid namespace), keeps only stdin
// (/dev/null), stdout, stderr and the ready pipe, and execs its own executable by path
// (resolved in the trial's mount namespace; /proc/self/exe would still name the old
// mount) with a hidden first argument. Before main(), that image finds the scenario and
// lets it start its victim, whose body then runs in that process instead of a fork.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace flakelab::scenarios {

struct TrialContext;

// Implemented by scenarios whose victims an external engine dumps.
class FreshVictimSource {
 public:
  virtual ~FreshVictimSource() = default;
  // Starts the scenario's victim for `ctx` (its params) and `arg` (the scenario's own:
  // a salt, a directory) with victims::start_victim. Called in the exec'd image, where
  // start_victim runs the body in place and never returns.
  virtual pid_t start_own_victim(const TrialContext& ctx, const std::string& arg) = 0;
};

// The hidden first argument of an exec'd victim image.
inline constexpr const char* kFreshVictimArg = "--flakelab-fresh-victim";

// Starts the victim of `scenario` (a FreshVictimSource) in a fresh image of this
// executable. `setup` runs in the child before the exec. Returns the victim's pid (a
// child of the caller) once every thread of it sleeps. Throws std::runtime_error naming
// the step, the path and errno text on failure, leaving no child behind.
pid_t start_fresh_victim(const TrialContext& ctx, const std::string& scenario, const std::string& arg,
                         const std::function<void()>& setup);

}  // namespace flakelab::scenarios
