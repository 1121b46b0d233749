// The image side of pipes: Process.pipes (capacity, unread bytes) and the pipe
// ends in files that refer to them, one open file description per end at most.
#include <fcntl.h>

#include <map>

#include "file_record.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {
namespace {

std::string idx(const char* list, int i, const char* field) {
  return std::string(list) + "[" + std::to_string(i) + "]." + field;
}

void validate_table(const TableCheck& c) {
  const pb::Process& p = c.process();
  c.count("pipes", p.pipes_size(), ImageLimits::kMaxFds);
  std::map<uint64_t, std::pair<int, int>> ends;  // pipe id -> (read ends, write ends)
  for (int i = 0; i < p.pipes_size(); ++i) {
    const auto& pipe = p.pipes(i);
    if (ends.count(pipe.id())) c.fail(idx("pipes", i, "id"), "appears twice");
    ends[pipe.id()] = {0, 0};
    if (pipe.capacity() < 4096 || pipe.capacity() > ImageLimits::kMaxPipeCapacity || (pipe.capacity() & (pipe.capacity() - 1)))
      c.fail(idx("pipes", i, "capacity"), std::to_string(pipe.capacity()) + " is not a valid pipe size");
    if (pipe.data().size() > pipe.capacity())
      c.fail(idx("pipes", i, "data"), std::to_string(pipe.data().size()) + " bytes do not fit its capacity");
  }
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (f.kind() != pb::FILE_PIPE) continue;
    auto it = ends.find(f.pipe_id());
    if (it == ends.end()) c.fail(idx("files", i, "pipe_id"), std::to_string(f.pipe_id()) + " is not in pipes");
    uint32_t mode = f.flags() & O_ACCMODE;
    if (mode != O_RDONLY && mode != O_WRONLY) c.fail(idx("files", i, "flags"), "a pipe end is read-only or write-only");
    int& n = mode == O_RDONLY ? it->second.first : it->second.second;
    if (++n > 1) c.fail(idx("files", i, "pipe_id"), "more than one open file for the same end of a pipe");
  }
  for (const auto& [id, n] : ends)
    if (n.first + n.second == 0)  // one end alone is fine: the other was closed by everyone
      c.fail("pipes", "pipe " + std::to_string(id) + " has no end in files");
}

std::string show(const pb::File& f) {
  return record_text("pipe:[%llu]", static_cast<unsigned long long>(f.pipe_id()));
}

}  // namespace

const FileRecord* pipe_record() {
  static const FileRecord record{nullptr, show, validate_table};
  return &record;
}

}  // namespace flakelab::engine
