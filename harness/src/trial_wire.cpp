#include "flakelab/harness/trial_wire.h"

#include <cstdint>

namespace flakelab::harness {
namespace {

void put_u32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

bool get_u32(std::string_view& in, uint32_t& value) {
  if (in.size() < 4) return false;
  value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  in.remove_prefix(4);
  return true;
}

bool get_string(std::string_view& in, std::string& value) {
  uint32_t size = 0;
  if (!get_u32(in, size) || in.size() < size) return false;
  value.assign(in.substr(0, size));
  in.remove_prefix(size);
  return true;
}

}  // namespace

std::string encode_result(const WireResult& result) {
  std::string payload;
  payload.push_back(static_cast<char>(result.verdict));
  put_u32(payload, static_cast<uint32_t>(result.message.size()));
  payload += result.message;
  put_u32(payload, static_cast<uint32_t>(result.cpus_used.size()));
  payload += result.cpus_used;
  std::string frame;
  put_u32(frame, static_cast<uint32_t>(payload.size()));
  return frame + payload;
}

std::optional<WireResult> decode_result(std::string_view bytes) {
  uint32_t size = 0;
  if (!get_u32(bytes, size) || bytes.size() != size || bytes.empty()) return std::nullopt;
  WireResult result;
  const auto verdict = static_cast<unsigned char>(bytes[0]);
  bytes.remove_prefix(1);
  switch (verdict) {
    case static_cast<unsigned char>(scenarios::Verdict::kPass):
    case static_cast<unsigned char>(scenarios::Verdict::kFail):
    case static_cast<unsigned char>(scenarios::Verdict::kError):
      result.verdict = static_cast<scenarios::Verdict>(verdict);
      break;
    default:
      return std::nullopt;
  }
  if (!get_string(bytes, result.message) || !get_string(bytes, result.cpus_used)) {
    return std::nullopt;
  }
  if (!bytes.empty()) return std::nullopt;
  return result;
}

}  // namespace flakelab::harness
