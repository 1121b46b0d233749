// Fault injection for the kill-during-restore tests: the engine calls
// fault_point("step") at chosen steps; if FLAKELAB_FAULT_KILL_AT names that step,
// the process SIGKILLs itself there, as if killed from outside at that moment.
// Steps: root-cloned, child-cloned, forked, transmuted, finished, pdeathsig,
// released (see restore.cpp).
#pragma once

#include <string_view>

namespace flakelab::engine {

inline constexpr const char* kFaultKillAtEnv = "FLAKELAB_FAULT_KILL_AT";

void fault_point(std::string_view step) noexcept;

}  // namespace flakelab::engine
