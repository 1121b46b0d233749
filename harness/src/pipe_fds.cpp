
#include <fcntl.h>

#include "flakelab/harness/error.h"
#include "flakelab/harness/pipe_fds.h"

namespace flakelab::harness {

PipeFds make_pipe(int extra_flags) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | extra_flags) != 0) throw os_error("pipe2");
  return PipeFds{base::UniqueFd(fds[0]), base::UniqueFd(fds[1])};
}

}  // namespace flakelab::harness
