#include "fault_point.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

namespace flakelab::engine {

void fault_point(std::string_view step) noexcept {
  const char* at = getenv(kFaultKillAtEnv);  // read each time: tests set it per run
  if (at != nullptr && step == at) ::kill(getpid(), SIGKILL);
}

}  // namespace flakelab::engine
