#include "flakelab/harness/seed.h"

#include <random>

namespace flakelab::harness {

uint64_t random_run_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace flakelab::harness
