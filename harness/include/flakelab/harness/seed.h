// Seeds: one per run, and from it one per trial, so a run can be replayed exactly.
#pragma once

#include <cstdint>

namespace flakelab::harness {

// SplitMix64's output function applied to x + golden gamma.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The seed of trial `index` of a run seeded with `run_seed`.
constexpr uint64_t trial_seed(uint64_t run_seed, int64_t index) {
  return splitmix64(run_seed ^ splitmix64(static_cast<uint64_t>(index)));
}

// A fresh run seed from std::random_device.
uint64_t random_run_seed();

}  // namespace flakelab::harness
