// What the kinds of file on anonymous inodes share (kinds/eventfd.cpp, epoll.cpp,
// timerfd.cpp, signalfd.cpp): their whole state lives in the kernel object. Dump
// reads it from /proc/PID/fdinfo without consuming anything; restore creates the
// object in the restorer (the new process inherits it like every other file) and
// adds epoll watches inside the target once all of its fds are in place.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"
#include "kinds/kind.h"

namespace flakelab::engine {

class AnonInodeKind : public FileKindModule {
 public:
  // `link`: how /proc/PID/fd shows it ("anon_inode:[eventfd]").
  AnonInodeKind(pb::FileKind kind, std::string link) : FileKindModule(kind), link_(std::move(link)) {}
  const std::string& link() const { return link_; }
  bool matches(const FdProbe& fd) const override { return fd.link == link_; }
  std::string check(const FdProbe& fd) const override;
  std::string dump(const FdProbe& fd, pb::File& f) const override { return record(fd, /*frozen=*/true, f); }
  base::UniqueFd open(const pb::File& f, OpenContext& ctx) const override;

  // Fills `f` (kind, flags and the kind's record) from fd.info. Returns "" or why
  // this variant is not supported (nothing is touched either way). `frozen`: the
  // holder is seized, or it is the dump's own copy (a file in flight).
  std::string record(const FdProbe& fd, bool frozen, pb::File& f) const;

 protected:
  // The kind's record (f.eventfd()...) from fdinfo; "" or why not.
  virtual std::string record_state(const FdProbe& fd, bool frozen, pb::File& f) const = 0;
  // The object, blocking or not as creation needs (open() then sets the saved
  // O_NONBLOCK). `what` names the file in errors.
  virtual base::UniqueFd create(const pb::File& f, const std::string& what) const = 0;

 private:
  std::string link_;
};

// The anonymous-inode kind whose /proc/PID/fd link this is; nullptr if none.
const AnonInodeKind* anon_inode_kind_for_link(const std::string& link);

// What restoring epoll watches needs from the target: a remote syscall that
// throws on failure, and room in its memory for the syscall's arguments.
struct TargetCalls {
  std::function<long(const std::string& what, long nr, long a1, long a2, long a3, long a4)> call;
  std::function<uint64_t(const void* data, size_t size)> put;
  std::function<void()> reset;  // everything put so far may be overwritten
};

// epoll_ctl(EPOLL_CTL_ADD) for every saved watch, issued by the target itself
// (a signalfd's readiness is tied to the sighand of the task that adds the
// watch) with the target's fd numbers (the watch is keyed by file and number).
// Call once every fd is in place. (kinds/epoll.cpp)
void restore_epoll_watches(const pb::Process& p, const TargetCalls& target);

}  // namespace flakelab::engine
