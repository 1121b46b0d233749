// One end of an anonymous pipe ("pipe:[N]"): the end's flags here, the pipe's
// unread bytes and capacity in a pb::Pipe of the process (pipes.h), copied with
// tee() so nothing is consumed. Restore makes one pipe per record, refills it,
// and hands each saved end its side.
#include <fcntl.h>

#include <map>
#include <set>

#include "../fifos.h"
#include "../pipes.h"
#include "flakelab/engine/error.h"
#include "kind.h"

namespace flakelab::engine {
namespace {

bool is_read_end(uint32_t flags) { return (flags & O_ACCMODE) == O_RDONLY; }

// The pipes a restore made, by id.
struct RecreatedPipes : KindState {
  std::map<uint64_t, std::pair<base::UniqueFd, base::UniqueFd>> by_id;
};

// A tree's pipes: merged by id (the pipe's inode); each end opens on its own (open()).
class PipeTable : public TreeTable {
 public:
  TablePhase phase() const override { return TablePhase::kEachFile; }
  void merge(const pb::Process& p, const std::vector<int>&, pb::Process& merged) override {
    merge_by_id(p.pipes(), *merged.mutable_pipes(), ids_);
  }

 private:
  std::set<uint64_t> ids_;
};

class PipeKind : public FileKindModule {
 public:
  PipeKind() : FileKindModule(pb::FILE_PIPE) {}
  bool matches(const FdProbe& fd) const override {
    return S_ISFIFO(fd.st.st_mode) && fd.link.rfind("pipe:[", 0) == 0;
  }
  std::string check(const FdProbe&) const override { return ""; }  // the ends are judged together
  std::string dump(const FdProbe& fd, pb::File& f) const override {
    f.set_kind(pb::FILE_PIPE);
    f.set_flags(fd.info.flags() & ~static_cast<uint32_t>(O_CLOEXEC));
    f.set_pipe_id(fd.st.st_ino);
    return "";
  }

  std::string check_table(const FdScan& scan) const override {
    for (const auto& [id, e] : ends(scan)) {
      if (e.opened_twice) return e.last->where() + ": a pipe end opened twice (not via dup) is not supported yet";
      // A missing end closed by everyone is fine (restore keeps only the saved
      // end); one held by a process outside the tree is not.
      if (e.read == 0 || e.write == 0)
        if (std::string holder = held_elsewhere(scan.pid, e.last->link, e.last->st.st_dev, id, scan.tree);
            !holder.empty())
          return e.last->where() + ": the pipe is also open in another process (" + holder +
                 "), outside the dumped process tree";
    }
    return "";
  }

  std::string dump_table(const FdScan& scan, pb::Process& out) const override {
    if (std::string why = check_table(scan); !why.empty()) return why;
    for (const auto& [id, e] : ends(scan)) *out.add_pipes() = snapshot_pipe(scan.pid, e.last->fd, id);
    return "";
  }

  base::UniqueFd open(const pb::File& f, OpenContext& ctx) const override {
    std::string what = "restore pid " + std::to_string(ctx.process.pid()) + ": pipe:[" + std::to_string(f.pipe_id()) + "]";
    auto& pipes = ctx.state<RecreatedPipes>(pb::FILE_PIPE).by_id;
    auto it = pipes.find(f.pipe_id());
    if (it == pipes.end())
      for (const auto& pipe : ctx.process.pipes())
        if (pipe.id() == f.pipe_id())
          it = pipes.emplace(pipe.id(), recreate_pipe(pipe, static_cast<pid_t>(ctx.process.pid()))).first;
    if (it == pipes.end()) throw EngineError(what + ": not in the image's pipes");
    int end = is_read_end(f.flags()) ? it->second.first.get() : it->second.second.get();
    // Each end is one open file description: O_NONBLOCK belongs to it.
    if (fcntl(end, F_SETFL, static_cast<int>(f.flags() & O_NONBLOCK)) != 0) throw_errno(what + ": F_SETFL");
    return dup_above(end, ctx.min_fd, what);
  }
  // Pipes are named by inode already; their bytes are stored once.
  void share_tree(const std::vector<pb::Process*>& processes) const override {
    store_once(processes, &pb::Process::mutable_pipes);
  }
  std::unique_ptr<TreeTable> tree_table() const override { return std::make_unique<PipeTable>(); }

 private:
  struct Ends {
    int read = 0, write = 0;
    bool opened_twice = false;
    const FdProbe* last = nullptr;  // the last description of the pipe, which names it
  };
  // Per pipe inode, its open file descriptions by end.
  std::map<uint64_t, Ends> ends(const FdScan& scan) const {
    std::map<uint64_t, Ends> out;
    for (const ScannedFile& s : scan.files) {
      if (s.kind != this) continue;
      Ends& e = out[s.probe.st.st_ino];
      if (++(is_read_end(s.probe.info.flags()) ? e.read : e.write) > 1 && !e.opened_twice) {
        e.opened_twice = true;
        e.last = &s.probe;
        continue;
      }
      if (!e.opened_twice) e.last = &s.probe;
    }
    return out;
  }
};

}  // namespace

const FileKindModule& pipe_kind() {
  static const PipeKind kind;
  return kind;
}

}  // namespace flakelab::engine
