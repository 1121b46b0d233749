// What a trial process sends back to the harness over its result pipe: one
// length-prefixed frame, written once just before the trial process exits.
//
//   u32 payload_size | u8 verdict | u32 n | message[n] | u32 m | cpus_used[m]
//
// (integers little-endian; payload_size counts everything after itself).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

struct WireResult {
  scenarios::Verdict verdict = scenarios::Verdict::kPass;
  std::string message;
  std::string cpus_used;
};

std::string encode_result(const WireResult& result);

// The frame in `bytes` if they hold exactly one well-formed frame, else nullopt.
std::optional<WireResult> decode_result(std::string_view bytes);

}  // namespace flakelab::harness
