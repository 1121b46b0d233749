// compel's name for the fd owner, which lives in the base layer (the lead renames the
// users to base::UniqueFd mechanically).
#pragma once

#include "flakelab/base/unique_fd.h"

namespace flakelab::compel {

using UniqueFd = base::UniqueFd;

}  // namespace flakelab::compel
