// Small helpers for the selftest scenarios: errors, a pipe, and the base layer's fd and
// child-process owners under short names.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <utility>

#include "flakelab/base/child_process.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::scenarios::selftest {

inline std::system_error os_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

// The fd and child-process owners are the base layer's.
using Fd = base::UniqueFd;
using Child = base::ChildProcess;  // explicit Child(pid) takes an unreaped child

struct Pipe {
  Fd read;
  Fd write;
  static Pipe make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw os_error("pipe2");
    return Pipe{Fd(fds[0]), Fd(fds[1])};
  }
};

}  // namespace flakelab::scenarios::selftest
