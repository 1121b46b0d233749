#include "flakelab/harness/unique_fd.h"

#include <fcntl.h>

#include "flakelab/harness/error.h"

namespace flakelab::harness {

PipeFds make_pipe(int extra_flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | extra_flags) != 0) throw os_error("pipe2");
  return PipeFds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace flakelab::harness
