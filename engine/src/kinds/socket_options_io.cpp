#include "socket_options_io.h"

#include <sys/socket.h>

#include <cstring>

#include "flakelab/engine/error.h"

namespace flakelab::engine {

void record_socket_options(int s, int fresh, const std::vector<SockOptSpec>& specs, bool stream,
                           google::protobuf::RepeatedPtrField<pb::SockOpt>& out) {
  for (const SockOptSpec& spec : specs) {
    if (spec.datagram_only && stream) continue;
    char ours[64] = {}, theirs[64] = {};
    socklen_t our_len = sizeof(ours), their_len = sizeof(theirs);
    if (getsockopt(s, spec.level, spec.name, theirs, &their_len) != 0 || their_len == 0) continue;
    bool differs = getsockopt(fresh, spec.level, spec.name, ours, &our_len) != 0 || our_len != their_len ||
                   std::memcmp(ours, theirs, their_len) != 0;
    if (!differs) continue;
    pb::SockOpt* o = out.Add();
    o->set_level(static_cast<uint32_t>(spec.level));
    o->set_name(static_cast<uint32_t>(spec.name));
    o->set_value(std::string(theirs, their_len));
  }
}

void apply_socket_options(int s, const google::protobuf::RepeatedPtrField<pb::SockOpt>& options,
                          const SockOptSpec* (*find)(uint32_t level, uint32_t name), const std::string& what) {
  for (const pb::SockOpt& o : options) {
    int level = static_cast<int>(o.level()), name = static_cast<int>(o.name());
    std::string value = o.value();
    // getsockopt shows buffers doubled; *BUFFORCE (we are root) ignores rmem_max/wmem_max.
    if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF) && value.size() == sizeof(int)) {
      int half;
      std::memcpy(&half, value.data(), sizeof(half));
      half /= 2;
      name = name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
      value.assign(reinterpret_cast<const char*>(&half), sizeof(half));
    }
    if (setsockopt(s, level, name, value.data(), static_cast<socklen_t>(value.size())) != 0)
      throw_errno(what + ": setsockopt(" + find(o.level(), o.name())->label + ")");
  }
  for (const pb::SockOpt& o : options) {
    char got[64] = {};
    socklen_t len = sizeof(got);
    const char* label = find(o.level(), o.name())->label;
    if (getsockopt(s, static_cast<int>(o.level()), static_cast<int>(o.name()), got, &len) != 0)
      throw_errno(what + ": getsockopt(" + label + ")");
    if (len != o.value().size() || std::memcmp(got, o.value().data(), len) != 0)
      throw EngineError(what + ": " + label + " did not take its saved value (the kernel keeps another)");
  }
}

}  // namespace flakelab::engine
