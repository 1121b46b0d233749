// base's /proc readers under compel's names, errors as CompelError (the lead renames the
// users to base::procfs mechanically).
#pragma once

#include <string>

#include "flakelab/base/os_error.h"
#include "flakelab/base/procfs.h"
#include "flakelab/compel/error.h"

namespace flakelab::compel::proc {

using base::procfs::list_fds;
using base::procfs::list_threads;
using base::procfs::read_status;
using base::procfs::Status;

// Whole file; throws CompelError naming the path.
inline std::string read_file(const std::string& path) {
  try {
    return base::procfs::read_file(path);
  } catch (const base::OsError& e) {
    throw CompelError(e.what(), e.error_number());
  }
}

}  // namespace flakelab::compel::proc
