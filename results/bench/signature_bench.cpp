// Throughput of failure-message normalization + hashing (the work add_trial does per failing trial).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "flakelab/results/signature.h"

namespace flakelab::results {
namespace {

std::vector<std::string> messages() {
  std::vector<std::string> out;
  for (int i = 0; i < 1024; ++i) {
    const std::string n = std::to_string(i * 7919);
    switch (i % 6) {
      case 0:
        out.push_back("unix: Can't bind id 0x" + std::to_string(i % 17) + " ino " + n +
                      " addr : Address already in use");
        break;
      case 1:
        out.push_back("Saved data unexpectedly modified at 0x5a59fff" + n + " (offset " + std::to_string(i % 64) +
                      " past the parasite stack); parasite: Trimmed message received (" + std::to_string(i % 32) +
                      "/0)");
        break;
      case 2:
        out.push_back("Error (criu/cr-restore.c:1512): " + n + " exited, status=1 at 2026-11-23T20:16:07.123Z");
        break;
      case 3:
        out.push_back("can't open /tmp/flakelab-trial-" + n + "/images/pages-1.img: No such file or directory");
        break;
      case 4:
        out.push_back("bind(\"@flakelab-scm06-" + n + "\") failed: pid " + n + " tid " + n +
                      " run 123e4567-e89b-12d3-a456-426614174000");
        break;
      default:
        out.push_back("trial exceeded 5000 ms; victim pid " + n + " state D, /proc/" + n + "/stack read");
        break;
    }
  }
  return out;
}

void BM_NormalizeAndHash(benchmark::State& state) {
  const auto input = messages();
  const Normalizer normalizer;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(normalizer.signature(input[i++ & 1023]).hash);
  }
  state.counters["messages/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NormalizeAndHash);

// With two project masks (std::regex) in front of the built-ins.
void BM_NormalizeWithConfigMasks(benchmark::State& state) {
  const auto input = messages();
  const Normalizer normalizer = Normalizer::from_config_string(
      "[[mask]]\npattern = \"flakelab-trial-[0-9]+\"\nreplace = \"<trial>\"\n"
      "[[mask]]\npattern = \"criu/[a-z-]+\\\\.c\"\nreplace = \"<src>\"\n",
      "bench.toml");
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(normalizer.signature(input[i++ & 1023]).hash);
  }
  state.counters["messages/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NormalizeWithConfigMasks);

}  // namespace
}  // namespace flakelab::results
