// Named pipes (FIFOs): restore reopens each saved open file description by path
// with its flags and puts the bytes back (dump: kinds/fifo.cpp). Also: finding a
// process outside the dumped tree that holds a pipe, FIFO or socket, which dump refuses.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"
#include "fs_identity.h"

namespace flakelab::engine {

// An fd on a FIFO that has a path (anonymous pipes read "pipe:[N]").
bool is_fifo_fd(const std::string& link, const struct stat& st);

// "pid N fd M" of a process other than `pid` with an fd whose link reads `link`
// and whose inode is (dev, ino), or "" if there is none. Scans /proc/*/fd.
// Processes in `ignore` (the rest of a dumped tree) do not count.
std::string held_elsewhere(pid_t pid, const std::string& link, dev_t dev, ino_t ino,
                           const std::vector<pid_t>& ignore = {});

// "pid N fd M" of the first process with an fd whose link reads `link` (for a
// socket, "socket:[N]" names one socket), or "". Scans /proc/*/fd.
std::string first_holder(const std::string& link);

// While one lives, held_elsewhere() on this thread looks at one /proc/*/fd scan
// made at its first call instead of scanning again each time (a tree dump asks
// for every one-ended pipe and FIFO of every process: dozens of full scans).
// Candidates are still checked by dev and inode when asked.
class HolderScan {
 public:
  HolderScan();
  ~HolderScan();
  HolderScan(const HolderScan&) = delete;
  HolderScan& operator=(const HolderScan&) = delete;

  struct Holder {
    pid_t pid;
    int fd;
  };
  // Every fd whose link reads `link`, scanning /proc on the first call.
  const std::vector<Holder>& holders_of(const std::string& link);

 private:
  bool scanned_ = false;
  std::map<std::string, std::vector<Holder>> by_link_;
  HolderScan* outer_;
};

// For every FILE_FIFO file of `p`: the FIFO reopened by path with the saved flags
// (never blocking: the restorer holds it open read-write meanwhile), holding the
// saved bytes, at a number >= min_fd, into open_files[i]. Each path is checked
// (safe_open.h) and each end opened with openers[i]'s fs identity. Throws EngineError.
void reopen_fifos(const pb::Process& p, std::vector<base::UniqueFd>& open_files, int min_fd,
                  const std::vector<std::optional<FsIdentity>>& openers);

}  // namespace flakelab::engine
