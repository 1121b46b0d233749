// A named pipe (FIFO) at a path: recorded like a file at a path; its buffer is a
// pb::Fifo of the process (fifos.h), and restore opens every end from that table
// (reopen_fifos()), so that no open blocks.
#include "../fifos.h"
#include "path_file.h"

namespace flakelab::engine {
namespace {

class FifoKind : public PathFileKind {
 public:
  FifoKind() : PathFileKind(pb::FILE_FIFO, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return is_fifo_fd(fd.link, fd.st); }
  std::string check_table(const FdScan& scan) const override { return collect_fifos(scan.pid, nullptr, scan.tree); }
  std::string dump_table(const FdScan& scan, pb::Process& out) const override {
    return collect_fifos(scan.pid, &out, scan.tree);
  }
  compel::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // reopen_fifos()
};

}  // namespace

const FileKindModule& fifo_kind() {
  static const FifoKind kind;
  return kind;
}

}  // namespace flakelab::engine
