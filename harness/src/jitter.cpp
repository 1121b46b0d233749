#include "flakelab/harness/jitter.h"

#include <errno.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <time.h>

#include <algorithm>
#include <chrono>

#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/seed.h"

namespace flakelab::harness {
namespace {

constexpr int64_t kMaxJitterUs = 10'000'000;  // 10 s: anything longer is a timeout test

// A jitter maximum in the duration grammar, as whole microseconds (the unit of the
// recorded `jitter` parameter and of the delays drawn).
int64_t parse_jitter_us(std::string_view full, std::string_view text) {
  const std::string where = fmt::format("--jitter '{}'", full);
  const std::chrono::nanoseconds d = parse_duration_arg(where, text);
  if (d > std::chrono::microseconds(kMaxJitterUs) || d.count() % 1000 != 0) {
    throw UsageError(fmt::format("{}: '{}' is not a whole number of microseconds from 0 to 10s (e.g. 500us, 2ms)",
                                 where, text));
  }
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

}  // namespace

std::string JitterSpec::canonical() const {
  std::string out;
  for (const auto& [point, us] : max_us) out += fmt::format("{}{}:{}us", out.empty() ? "" : ";", point, us);
  return out;
}

JitterSpec parse_jitter(std::string_view text, const scenarios::Scenario& scenario) {
  JitterSpec spec;
  if (text.empty()) return spec;
  const std::vector<std::string> points = scenario.jitter_points();
  if (points.empty()) {
    throw UsageError(fmt::format("--jitter: scenario {} has no jitter points", scenario.name()));
  }
  if (text.find('=') == std::string_view::npos) {
    const int64_t us = parse_jitter_us(text, text);
    for (const std::string& point : points) spec.max_us[point] = us;
    return spec;
  }
  std::string_view rest = text;
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw UsageError(fmt::format("bad --jitter '{}': '{}' has no '='; expected MAX or POINT=MAX[,POINT=MAX...]",
                                   text, item));
    }
    const std::string point(item.substr(0, eq));
    if (std::find(points.begin(), points.end(), point) == points.end()) {
      throw UsageError(fmt::format("--jitter: scenario {} has no jitter point '{}' (it has: {})", scenario.name(),
                                   point, fmt::join(points, ", ")));
    }
    if (spec.max_us.contains(point)) throw UsageError(fmt::format("--jitter: point {} is given twice", point));
    spec.max_us[point] = parse_jitter_us(text, item.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return spec;
}

int64_t Jitter::next_delay_us(std::string_view point) {
  auto it = spec_.max_us.find(std::string(point));
  if (it == spec_.max_us.end() || it->second == 0) return 0;
  auto visit = visits_.find(point);
  if (visit == visits_.end()) visit = visits_.emplace(std::string(point), 0).first;
  const uint64_t n = visit->second++;
  const uint64_t draw = splitmix64(seed_ ^ fnv1a(point) ^ splitmix64(n));
  return static_cast<int64_t>(draw % static_cast<uint64_t>(it->second + 1));
}

void Jitter::at(std::string_view point) {
  const int64_t us = next_delay_us(point);
  if (us == 0) return;
  timespec ts{static_cast<time_t>(us / 1'000'000), static_cast<long>((us % 1'000'000) * 1000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
}

}  // namespace flakelab::harness
