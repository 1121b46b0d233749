// One module per kind of open file (regular file, pipe, eventfd, unix socket...)
// behind this interface, registered in all_kinds.inc. The dispatcher (files.cpp)
// reads each fd once (FdProbe), asks the modules in list order which one it is,
// finds which fds share one open file description (kcmp(KCMP_FILE)), and hands
// each description to its module once. How to add one: engine/README.md, "How to
// add a kind of file".
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "file_kind_traits.h"
#include "flakelab/base/fdinfo.h"
#include "flakelab/compel/unique_fd.h"
#include "flakelab/engine/image.h"

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
  template <class State>
  State& state(pb::FileKind kind) {
    auto& s = states_[kind];
    if (!s) s = std::make_unique<State>();
    return static_cast<State&>(*s);
  }

 private:
  std::map<pb::FileKind, std::unique_ptr<KindState>> states_;
};

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
  virtual compel::UniqueFd open(const pb::File& f, OpenContext& ctx) const = 0;

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
compel::UniqueFd dup_above(int fd, int min_fd, const std::string& what);

}  // namespace flakelab::engine
