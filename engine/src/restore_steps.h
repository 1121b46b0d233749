// The steps of restoring one process (restore_steps.cpp), which the tree restore
// (restore.cpp, restore_process()) runs for every process of a tree.
#pragma once

#include <fcntl.h>
#include <linux/sched.h>   // struct clone_args
#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "address_space.h"
#include "flakelab/base/hex.h"
#include "flakelab/compel/remote_memory.h"
#include "flakelab/compel/remote_ptr.h"
#include "payload_crc.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_thread.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "trampoline.h"
#include "tree_files.h"

namespace flakelab::engine::restore_detail {

// Files one process needs besides its fds, opened by the restorer before clone3
// so that the target inherits them: files it maps by path, its cwd and exe. Its
// fds and saved files come from the tree's TreeFiles.
struct InheritedFiles {
  std::map<std::pair<std::string, int>, base::UniqueFd> mapped;  // by path and open mode
  base::UniqueFd cwd;
  base::UniqueFd exe;
  const TreeFiles* tree = nullptr;

  // A shared mapping that may become writable needs a file opened for writing.
  static int mode_for(const pb::Vma& v) {
    return v.kind() == pb::VMA_FILE_SHARED && v.maywrite() ? O_RDWR : O_RDONLY;
  }
  int fd_for(const pb::Vma& v) const {
    return v.saved_file() != 0 ? tree->saved().fd_for_mapping(v) : mapped.at({v.path(), mode_for(v)}).get();
  }
  void open_all(const pb::Process& p);
};

// Bump allocator over the trampoline's scratch area: syscall arguments the kernel
// reads from the target's memory.
class Scratch {
 public:
  Scratch(pid_t pid, const Trampoline& t) : pid_(pid), t_(t) {}
  compel::RemoteAddr put(const void* data, size_t size) {
    if (used_ + size > t_.scratch_size()) throw EngineError("restore: trampoline scratch area is full");
    compel::RemoteAddr addr = t_.scratch() + used_;
    compel::write_remote(pid_, addr, data, size, "trampoline scratch");
    used_ += (size + 15) & ~size_t{15};
    return addr;
  }
  void reset() { used_ = 0; }

 private:
  pid_t pid_;
  Trampoline t_;
  size_t used_ = 0;
};

// Checks an image's unchecked pages (Image::unchecked_pages) piece by piece as
// they are copied into the processes: add() on the copying threads, just before
// each piece goes in (so it is read once, and is in cache for the copy), then
// verify() once every process's pages are in, before any of them runs.
class PagesChecker {
 public:
  explicit PagesChecker(const UncheckedPages& pages) : pages_(pages) {}
  // Never throws (it runs on copying threads): a problem is kept for verify().
  void add(const uint8_t* data, size_t len);
  // Throws ImageError naming the file: a checksum mismatch, or pages that could
  // not be read.
  void verify();

 private:
  const UncheckedPages& pages_;
  PieceCrcs crcs_;
  std::mutex mutex_;
  std::string problem_;  // guarded by mutex_
};

// Replaces the memory image and process-wide state of `pid` (in its trampoline)
// with `p`'s, fds included. `checker`: checks the pages as they are copied.
void transmute(spdlog::logger* log, compel::RemoteSession& session, pid_t pid, const pb::Process& p, const PageBytes& pages,
               const Trampoline& t, const InheritedFiles& files, PagesChecker* checker = nullptr);
// Thread `tid` of `pid`, created by its leader and seized.
// Runs clone3(`args` with set_tid = {tid}) from the trampoline's spawn snippet in
// `leader`, a thread of process `pid`, and returns its raw result (the new id or
// -errno). Throws if the leader stops for anything but the snippet's trap.
// `process`: a new process (not a thread), which dies with process `pid`.
long spawn_with_tid(compel::SeizedThread& leader, pid_t pid, const Trampoline& t, clone_args args, pid_t tid,
                    const std::string& what, bool process);
std::unique_ptr<compel::SeizedThread> spawn_thread(compel::SeizedThread& leader, pid_t pid, pid_t tid,
                                                   const Trampoline& t);
void restore_thread_state(compel::SeizedThread& th, pid_t pid, const pb::Thread& t, const Trampoline& tr,
                          const pb::Process* leader_of);
void load_thread_registers(compel::SeizedThread& th, const pb::Thread& t);
// "" once the new process reports from its trampoline, else why not.
std::string wait_ready(int fd);
void leave_trampoline(compel::SeizedThread& th, const Trampoline& t, const pb::Process& p);
void set_rlimits(pid_t pid, const pb::Process& p);
// The restorer's mappings and every mapping of `processes`: where no trampoline goes.
std::vector<Range> busy_ranges(const std::vector<const pb::Process*>& processes);
using base::hex;

}  // namespace flakelab::engine::restore_detail
