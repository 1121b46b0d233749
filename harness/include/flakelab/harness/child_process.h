// The harness's name for the child-process owner, which lives in the base layer (the
// lead renames the users to base::ChildProcess mechanically).
#pragma once

#include "flakelab/base/child_process.h"

namespace flakelab::harness {

using ChildProcess = base::ChildProcess;
using base::describe_wait_status;

}  // namespace flakelab::harness
