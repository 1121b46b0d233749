// A trial's network namespace starts with its loopback interface down. CRIU's kernel
// feature probe connects a socket (it fails with "Network is unreachable" without lo),
// and zdtm's socket tests use 127.0.0.1, as they would in zdtm.py's host flavor.
#pragma once

namespace flakelab::scenarios {

// Sets IFF_UP on "lo" in the caller's network namespace (nothing if it is up). Throws
// std::runtime_error with the ioctl and errno text.
void bring_loopback_up();

}  // namespace flakelab::scenarios
