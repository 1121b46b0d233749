#include "tree_files.h"

#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "files.h"
#include "flakelab/base/procfs.h"
#include "flakelab/engine/error.h"
#include "kinds/kind.h"

namespace flakelab::engine {

// One fd number of each file of `p` (-1 if no fd refers to it).
std::vector<int> first_fds(const pb::Process& p) {
  std::vector<int> out(static_cast<size_t>(p.files_size()), -1);
  for (const auto& d : p.fds())
    if (d.file() < out.size() && out[d.file()] < 0) out[d.file()] = static_cast<int>(d.fd());
  return out;
}

struct stat stat_fd(pid_t pid, int fd) {
  std::string path = base::procfs::fd_path(pid, fd);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno("dump pid " + std::to_string(pid) + ": stat " + path);
  return st;
}

void share_tree_files(const std::vector<pb::Process*>& processes) {
  struct Known {
    pid_t pid;
    int fd;
    dev_t dev;
    ino_t ino;
    uint32_t id;
  };
  std::vector<Known> known;
  uint32_t next_file = 1;
  for (pb::Process* p : processes) {
    const pid_t pid = static_cast<pid_t>(p->pid());
    auto fds = first_fds(*p);
    // Open file descriptions: the same (dev, inode) is compared with kcmp.
    for (int i = 0; i < p->files_size(); ++i) {
      if (fds[i] < 0) continue;
      struct stat st = stat_fd(pid, fds[i]);
      uint32_t id = 0;
      for (const Known& k : known)
        if (k.pid != pid && k.dev == st.st_dev && k.ino == st.st_ino &&
            syscall(SYS_kcmp, pid, k.pid, KCMP_FILE, fds[i], k.fd) == 0) {
          id = k.id;
          break;
        }
      if (id == 0) {
        id = next_file++;
        known.push_back({pid, fds[i], st.st_dev, st.st_ino, id});
      }
      p->mutable_files(i)->set_tree_file(id);
    }
  }
  // Records the files refer to (FIFOs, saved files, pipes): each kind's.
  for (const FileKindModule* kind : file_kind_modules()) kind->share_tree(processes);
}

void dump_tree_files(const std::vector<pb::Process*>& processes, const DumpOptions& options) {
  std::vector<std::function<void()>> once_shared;
  for (const FileKindModule* kind : file_kind_modules())
    if (auto finish = kind->dump_tree(processes, options)) once_shared.push_back(std::move(finish));
  share_tree_files(processes);
  for (const auto& finish : once_shared) finish();
}

TreeFiles::TreeFiles() = default;
TreeFiles::~TreeFiles() = default;

void TreeFiles::open_all(const std::vector<const pb::Process*>& processes, const RestoreOptions& options,
                         RestoreStats* stats) {
  pb::Process& m = merged_;
  m.set_pid(processes.at(0)->pid());
  for (const FileKindModule* kind : file_kind_modules())
    if (auto table = kind->tree_table()) tables_.emplace(kind->kind(), std::move(table));
  std::map<uint32_t, int> by_tree_file;
  int top = 3;
  for (const pb::Process* p : processes) {
    for (const auto& fd : p->fds()) top = std::max(top, static_cast<int>(fd.fd()) + 1);
    auto& index = index_[p->pid()];
    pb::Process view;  // p without what an earlier holder of its files sets up
    bool stripped = false;
    for (const auto& f : p->files()) {
      if (f.tree_file() != 0) {
        auto it = by_tree_file.find(f.tree_file());
        if (it != by_tree_file.end()) {
          pb::File copy = f;
          const FileKindModule* kind = file_kind_module(f.kind());
          bool strip = kind && kind->strip_shared(copy);
          stripped |= strip;
          *view.add_files() = strip ? copy : f;
          index.push_back(it->second);
          continue;
        }
        by_tree_file.emplace(f.tree_file(), m.files_size());
      }
      *view.add_files() = f;
      index.push_back(m.files_size());
      *m.add_files() = f;
      openers_.push_back(recorded_fs_identity(*p));
    }
    if (stripped) {
      view.set_pid(p->pid());
      *view.mutable_fds() = p->fds();
      shared_views_.emplace(p->pid(), std::move(view));
    }
    for (auto& [kind, table] : tables_) table->merge(*p, index, m);
  }
  open_files_.resize(static_cast<size_t>(m.files_size()));
  TableOpen ctx{m, open_files_, top, options, stats, openers_};
  for (TablePhase phase : kTablePhases) {
    if (phase == TablePhase::kEachFile) {
      std::vector<base::UniqueFd> each = reopen_files(m, top, openers_);
      for (size_t i = 0; i < each.size(); ++i)
        if (each[i]) open_files_[i] = std::move(each[i]);
    }
    for (auto& [kind, table] : tables_)
      if (table->phase() == phase) table->open(ctx);
  }
}

const SavedFiles& TreeFiles::saved() const {
  return dynamic_cast<const SavedFiles&>(*tables_.at(pb::FILE_SAVED));
}

void TreeFiles::seal_late() const { saved().seal_late(merged_); }

int TreeFiles::file_fd(const pb::Process& p, uint32_t index) const {
  return open_files_.at(static_cast<size_t>(index_.at(p.pid()).at(index))).get();
}

const pb::Process& TreeFiles::epoll_view(const pb::Process& p) const {
  auto it = shared_views_.find(p.pid());
  return it == shared_views_.end() ? p : it->second;
}

}  // namespace flakelab::engine
