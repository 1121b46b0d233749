// Image-side rules for AF_UNIX sockets (pb::UnixSocket and the files that refer
// to them): limits, validation and the `show` lines. Dump and restore live in
// unix_collector.cpp and unix_builder.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct UnixLimits {
  static constexpr uint64_t kMaxQueuedBytes = 64ull << 20;  // all queues of an image together
  static constexpr uint64_t kMaxMessages = 1u << 16;        // per queue
  static constexpr int kMaxFdsPerMessage = 253;             // SCM_MAX_FD
  static constexpr uint32_t kMaxBacklog = 1u << 20;
  static constexpr size_t kMaxName = 108;                   // sizeof(sun_path)
};

// A name for people: "@name" for abstract names (NULs shown as "\0", other
// unprintable bytes as "\xNN"), the path otherwise, "(unnamed)" if empty.
std::string unix_name_text(const std::string& name);

// Checks unix_sockets of `p` and every reference to them (files, queued fds);
// `others` are the other processes of a tree, whose socket files refer to p's
// records (a tree records its sockets once, with the root). Throws
// ImageError("image <file>: <field>: <problem>").
void validate_unix_sockets(const pb::Process& p, const std::string& file, const std::vector<const pb::Process*>& others = {});

// Lines for `show`: one per socket and per queued message ("" if none).
// `others`: the tree's other processes (a socket one of them holds is not "in flight only").
std::string show_unix_sockets(const pb::Process& p, const std::vector<const pb::Process*>& others = {});

}  // namespace flakelab::engine
