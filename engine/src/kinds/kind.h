// One module per kind of open file (regular file, pipe, eventfd, unix socket...)
// behind this interface, registered in all_kinds.inc. The dispatcher (files.cpp)
// reads each fd once (FdProbe), asks the modules in list order which one it is,
// finds which fds share one open file description (kcmp(KCMP_FILE)), and hands
// each description to its module once. How to add one: engine/README.md, "How to
// add a kind of file".
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../fs_identity.h"
#include "file_kind_traits.h"
#include "flakelab/base/fdinfo.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"

namespace flakelab::engine {

// One fd of a process, read once from /proc without touching the process.
struct FdProbe {
  pid_t pid = 0;
  int fd = -1;
  std::string link;   // /proc/PID/fd/FD
  struct stat st {};  // stat() through that link: the object, not the link
  base::Fdinfo info;  // /proc/PID/fdinfo/FD
  // "pid P fd F (link)", how refusals name it.
  std::string where() const;
};

// Reads fd `fd` of `pid`; nothing if it was closed meanwhile. Throws EngineError.
std::optional<FdProbe> probe_fd(pid_t pid, int fd);
// /proc/PID/fdinfo/FD. Throws EngineError naming the path.
base::Fdinfo read_fdinfo(pid_t pid, int fd);

class FileKindModule;

// The open file descriptions of one process in fd order (the first fd of each),
// with the module that took each; `kind` is null for an fd no module matched.
struct ScannedFile {
  FdProbe probe;
  const FileKindModule* kind = nullptr;
};
struct FdScan {
  pid_t pid = 0;
  std::vector<pid_t> tree;  // every process dumped with it
  std::vector<ScannedFile> files;
  uint32_t first_file = 0;  // index in pb::Process.files of files[0] (dump_table)
};

// Per-restore state of a kind (e.g. the pipes it recreated), kept in OpenContext.
struct KindState {
  virtual ~KindState() = default;
};

// What open() works in: the process being restored, the lowest fd number its
// copies may take, and each kind's state for this process.
class OpenContext {
 public:
  OpenContext(const pb::Process& process, int min_fd) : process(process), min_fd(min_fd) {}
  const pb::Process& process;
  const int min_fd;
  // Whose permissions the file being opened is opened with (fs_identity.h): its
  // first holder's recorded fs identity; none if the image records none.
  std::optional<FsIdentity> opener;
  template <class State>
  State& state(pb::FileKind kind) {
    auto& s = states_[kind];
    if (!s) s = std::make_unique<State>();
    return static_cast<State&>(*s);
  }

 private:
  std::map<pb::FileKind, std::unique_ptr<KindState>> states_;
};

// When a kind's tree table opens its files on restore, relative to the others.
// The order is this list, said once: TreeFiles::open_all runs the phases in it.
enum class TablePhase {
  kBeforeFiles,  // objects that mappings share too (saved files), made before anything else
  kEachFile,     // no table: every file's own FileKindModule::open(), in files order
  kAfterFiles,   // descriptions opened from a table by path (FIFOs)
  kLast,         // unix sockets: their queues carry every other file
};
inline constexpr TablePhase kTablePhases[] = {TablePhase::kBeforeFiles, TablePhase::kEachFile, TablePhase::kAfterFiles,
                                              TablePhase::kLast};

// What a tree table opens into: the merged files of the tree (TreeFiles), the
// restorer's fd of each (open_files[i], empty until opened), the lowest fd number
// a copy may take, and what the restore was asked.
struct TableOpen {
  const pb::Process& merged;
  std::vector<base::UniqueFd>& open_files;
  int min_fd;
  const RestoreOptions& options;
  RestoreStats* stats;  // may be null
  // openers[i]: the recorded fs identity of merged.files(i)'s first holder (OpenContext::opener).
  const std::vector<std::optional<FsIdentity>>& openers;
};

// A kind's records of a whole tree on restore (Process.pipes, .fifos,
// .saved_files, .unix_sockets): merged from every process, the first record of
// an id winning (ids are tree-wide, share_tree_files()), then opened once.
class TreeTable {
 public:
  virtual ~TreeTable() = default;
  virtual TablePhase phase() const = 0;
  // Adds the records of `p` (live, tree order) to `merged`; `file_index[i]` is
  // merged's index of p.files(i) (for records that name files).
  virtual void merge(const pb::Process& p, const std::vector<int>& file_index, pb::Process& merged) = 0;
  // Opens this table's files into ctx.open_files (nothing for tables whose files
  // open one by one). Throws EngineError naming the pid and the file.
  virtual void open(TableOpen&) {}
};

// Appends to `to` each record of `from` whose id() is not in `ids` yet: the first
// record of an id wins (a tree table's merge()).
template <class Records, class Id>
void merge_by_id(const Records& from, Records& to, std::set<Id>& ids) {
  for (const auto& record : from)
    if (ids.insert(record.id()).second) *to.Add() = record;
}

// Clears the contents of each record (pb::Pipe, pb::Fifo) whose id a process
// before it in `processes` has too: stored once, with the first holder.
template <class Records>
void store_once(const std::vector<pb::Process*>& processes, Records* (pb::Process::*records)()) {
  std::set<uint64_t> earlier;
  for (pb::Process* p : processes) {
    std::set<uint64_t> own;
    for (auto& record : *(p->*records)()) {
      if (earlier.count(record.id())) record.clear_data();
      own.insert(record.id());
    }
    earlier.insert(own.begin(), own.end());
  }
}

class FileKindModule {
 public:
  explicit FileKindModule(pb::FileKind kind) : kind_(kind) {}
  virtual ~FileKindModule() = default;
  pb::FileKind kind() const { return kind_; }
  const FileKindTraits& traits() const { return *file_kind_traits(kind_); }

  // Whether `fd` is of this kind (from its link, stat and fdinfo alone).
  virtual bool matches(const FdProbe& fd) const = 0;
  // Why this open file description cannot be dumped, or "". Reads only: runs
  // before any process is frozen, so refusals leave everything untouched.
  virtual std::string check(const FdProbe& fd) const = 0;
  // Records it into `f` (a new pb::File) with the process frozen; "" or why not
  // (its state may have changed since check()).
  virtual std::string dump(const FdProbe& fd, pb::File& f) const = 0;
  // Kinds with process- or tree-wide tables (pipes, FIFOs, saved files), once
  // every fd is scanned: what check()/dump() cannot see one description at a
  // time (a pipe end opened twice, an end held outside the tree), then the
  // records into `out`.
  virtual std::string check_table(const FdScan&) const { return ""; }
  virtual std::string dump_table(const FdScan&, pb::Process&) const { return ""; }
  // The restorer's copy of `f` at an fd >= ctx.min_fd with O_CLOEXEC, or an
  // empty UniqueFd when its table opens it later (saved files, FIFOs, sockets).
  // Throws EngineError naming the pid and the file.
  virtual base::UniqueFd open(const pb::File& f, OpenContext& ctx) const = 0;

  // Kinds whose state is tree-wide (unix sockets: a peer or a queued file may be
  // in another process): with the tree frozen and every process's files
  // collected, before File.tree_file ids exist. Returns what to finish once they
  // do (or an empty function). `live`: the live processes, root first. Throws
  // EngineError.
  virtual std::function<void()> dump_tree(const std::vector<pb::Process*>& /*live*/, const DumpOptions&) const {
    return {};
  }
  // Once every description of the tree has its File.tree_file: makes the ids of
  // this kind's records tree-wide (an inode, or renumbered) and keeps their
  // contents with the first holder only (share_tree_files()). `processes`: live,
  // tree order, still frozen. Throws EngineError.
  virtual void share_tree(const std::vector<pb::Process*>& /*processes*/) const {}
  // The kind's records for the restore of a tree, or null if its files need none.
  virtual std::unique_ptr<TreeTable> tree_table() const { return nullptr; }
  // For a description an earlier process of the tree holds too: removes from
  // `f` what that process sets up once for all (epoll: its watches). Returns
  // whether anything was removed.
  virtual bool strip_shared(pb::File& /*f*/) const { return false; }

 private:
  pb::FileKind kind_;
};

// Every module, in all_kinds.inc order.
const std::vector<const FileKindModule*>& file_kind_modules();
// The module of a kind in an image; nullptr if none.
const FileKindModule* file_kind_module(pb::FileKind kind);
// The first module that matches `fd`; nullptr if none.
const FileKindModule* match_file_kind(const FdProbe& fd);

// `fd` at a number >= min_fd with O_CLOEXEC (dup3 in the target sets the saved
// FD_CLOEXEC); `what` names it in the error.
base::UniqueFd dup_above(int fd, int min_fd, const std::string& what);

}  // namespace flakelab::engine
