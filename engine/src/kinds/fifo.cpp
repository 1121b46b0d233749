// A named pipe (FIFO) at a path: recorded like a file at a path; its buffer is a
// pb::Fifo of the process, one per FIFO however many descriptions open it,
// copied with tee() (nothing consumed). Restore opens every end from that table
// (reopen_fifos(), fifos.h), so that no open blocks.
#include <map>
#include <set>

#include "../fifos.h"
#include "../pipes.h"
#include "../tree_files.h"
#include "flakelab/engine/error.h"
#include "path_file.h"

namespace flakelab::engine {
namespace {

class FifoTable : public TreeTable {
 public:
  TablePhase phase() const override { return TablePhase::kAfterFiles; }
  void merge(const pb::Process& p, const std::vector<int>&, pb::Process& merged) override {
    merge_by_id(p.fifos(), *merged.mutable_fifos(), ids_);
  }
  void open(TableOpen& ctx) override { reopen_fifos(ctx.merged, ctx.open_files, ctx.min_fd, ctx.openers); }

 private:
  std::set<uint32_t> ids_;
};

class FifoKind : public PathFileKind {
 public:
  FifoKind() : PathFileKind(pb::FILE_FIFO, /*by_path=*/true) {}
  bool matches(const FdProbe& fd) const override { return is_fifo_fd(fd.link, fd.st); }
  std::string check_table(const FdScan& scan) const override { return fifos(scan, nullptr); }
  std::string dump_table(const FdScan& scan, pb::Process& out) const override { return fifos(scan, &out); }
  base::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // FifoTable
  std::unique_ptr<TreeTable> tree_table() const override { return std::make_unique<FifoTable>(); }
  // Fifo.id tree-wide, by inode (found through a file that opens the FIFO).
  void share_tree(const std::vector<pb::Process*>& processes) const override {
    std::map<std::pair<dev_t, ino_t>, uint32_t> tree_ids;
    for (pb::Process* p : processes) {
      const pid_t pid = static_cast<pid_t>(p->pid());
      auto fds = first_fds(*p);
      std::map<uint32_t, uint32_t> to_tree;  // this process's id -> tree-wide id
      for (int i = 0; i < p->files_size(); ++i) {
        const auto& f = p->files(i);
        if (f.kind() != pb::FILE_FIFO || f.fifo_id() == 0 || fds[i] < 0 || to_tree.count(f.fifo_id())) continue;
        struct stat st = stat_fd(pid, fds[i]);
        auto it = tree_ids.emplace(std::make_pair(st.st_dev, st.st_ino), static_cast<uint32_t>(tree_ids.size() + 1)).first;
        to_tree[f.fifo_id()] = it->second;
      }
      for (auto& fifo : *p->mutable_fifos()) {
        auto it = to_tree.find(fifo.id());
        if (it == to_tree.end())
          throw EngineError("dump pid " + std::to_string(pid) + ": FIFO #" + std::to_string(fifo.id()) + " has no fd");
        fifo.set_id(it->second);
      }
      for (auto& f : *p->mutable_files())
        if (f.kind() == pb::FILE_FIFO && f.fifo_id() != 0) f.set_fifo_id(to_tree.at(f.fifo_id()));
    }
    store_once(processes, &pb::Process::mutable_fifos);  // the first holder's record carries the bytes
  }

 private:
  // Without `out`: that no FIFO is open outside the tree. With it (files already
  // recorded, process frozen): also a pb::Fifo per FIFO, and File.fifo_id.
  std::string fifos(const FdScan& scan, pb::Process* out) const {
    std::map<std::pair<dev_t, ino_t>, uint32_t> ids;  // FIFO -> Fifo.id
    for (size_t i = 0; i < scan.files.size(); ++i) {
      const FdProbe& fd = scan.files[i].probe;
      if (scan.files[i].kind != this) continue;
      auto key = std::make_pair(fd.st.st_dev, fd.st.st_ino);
      auto it = ids.find(key);
      if (it == ids.end()) {
        if (std::string holder = held_elsewhere(fd.pid, fd.link, fd.st.st_dev, fd.st.st_ino, scan.tree); !holder.empty())
          return "pid " + std::to_string(fd.pid) + " fd " + std::to_string(fd.fd) + " (FIFO " + fd.link +
                 "): the FIFO is also open in another process (" + holder + "), outside the dumped process tree";
        it = ids.emplace(key, static_cast<uint32_t>(ids.size() + 1)).first;
        if (out) {
          // Reopened like a pipe through /proc: tee() copies, the FIFO keeps its bytes.
          pb::Pipe copy = snapshot_pipe(fd.pid, fd.fd, fd.st.st_ino);
          auto* f = out->add_fifos();
          f->set_id(it->second);
          f->set_capacity(copy.capacity());
          f->set_data(std::move(*copy.mutable_data()));
        }
      }
      if (out) out->mutable_files(static_cast<int>(scan.first_file + i))->set_fifo_id(it->second);
    }
    return "";
  }
};

}  // namespace

const FileKindModule& fifo_kind() {
  static const FifoKind kind;
  return kind;
}

}  // namespace flakelab::engine
