// O_CLOEXEC pipes for the harness.
#pragma once

#include "flakelab/base/unique_fd.h"

namespace flakelab::harness {

// A pipe whose both ends are O_CLOEXEC. Throws HarnessError.
struct PipeFds {
  base::UniqueFd read;
  base::UniqueFd write;
};
PipeFds make_pipe(int extra_flags = 0);

}  // namespace flakelab::harness
