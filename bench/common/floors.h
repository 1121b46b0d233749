// The machine's floors, registered beside a binary's own benchmarks so that its figures
// can be read as ratios on any machine kind (issue 21):
//   Floor_ForkExitWait         fork, _exit(0) in the child, waitpid
//   Floor_ForkExecStaticNoop   fork, exec of a static program that returns, waitpid
//   Floor_Memcpy/BYTES         memcpy of BYTES between two warm buffers
//   Floor_TmpfsWrite/BYTES     BYTES written in 2 MiB pwrites into a new file in a new
//                              directory on /dev/shm (what a dump into a fresh image
//                              directory faces); removing it is not timed
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace flakelab::bench {

// One fork + exec of the static no-op + waitpid, in seconds; throws std::runtime_error
// if it fails. For benchmarks that interleave the floor with their own iterations.
double time_fork_exec_noop();

// One memcpy of `bytes` from a warm buffer plus one write of `bytes` into a new file in a
// new directory under `parent` (removed afterwards, untimed), in seconds; throws
// std::runtime_error naming the path on failure.
double time_memcpy_and_tmpfs_write(size_t bytes, const std::string& parent);

// Registers the floors for `bytes` (memcpy and tmpfs write, one benchmark per size).
void register_floors(const std::vector<size_t>& bytes);

// main() of a benchmark binary: the floors for `bytes`, then Google Benchmark as
// BENCHMARK_MAIN runs it. Returns the exit status.
int run_with_floors(int argc, char** argv, const std::vector<size_t>& bytes);

}  // namespace flakelab::bench
