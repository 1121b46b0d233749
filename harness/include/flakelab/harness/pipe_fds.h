// File descriptor ownership for the harness, and O_CLOEXEC pipes.
#pragma once

#include "flakelab/base/unique_fd.h"

namespace flakelab::harness {

// The one fd owner of the project lives in the base layer.
using UniqueFd = base::UniqueFd;

// A pipe whose both ends are O_CLOEXEC. Throws HarnessError.
struct PipeFds {
  UniqueFd read;
  UniqueFd write;
};
PipeFds make_pipe(int extra_flags = 0);

}  // namespace flakelab::harness
