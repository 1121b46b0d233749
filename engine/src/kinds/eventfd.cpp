// eventfd: its 64-bit counter and EFD_SEMAPHORE, from fdinfo.
#include <sys/eventfd.h>
#include <unistd.h>

#include "../anon_files.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

class EventfdKind : public AnonInodeKind {
 public:
  EventfdKind() : AnonInodeKind(pb::FILE_EVENTFD, "anon_inode:[eventfd]") {}

 protected:
  std::string record_state(const FdProbe& fd, bool, pb::File& f) const override {
    auto count = fd.info.number("eventfd-count", 16);
    if (!count) return "fdinfo has no readable eventfd-count";
    // Shown since Linux 6.6; without it EFD_SEMAPHORE cannot be told apart.
    auto semaphore = fd.info.number("eventfd-semaphore", 10);
    if (!semaphore)
      return "fdinfo has no eventfd-semaphore (kernel older than 6.6), so EFD_SEMAPHORE cannot be dumped";
    f.mutable_eventfd()->set_count(*count);
    f.mutable_eventfd()->set_semaphore(*semaphore != 0);
    return "";
  }

  base::UniqueFd create(const pb::File& f, const std::string& what) const override {
    // eventfd() takes an unsigned int; a 64-bit count is written instead.
    base::UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (f.eventfd().semaphore() ? EFD_SEMAPHORE : 0)));
    if (!fd) throw_errno(what + ": eventfd");
    uint64_t count = f.eventfd().count();
    if (count != 0 && ::write(fd.get(), &count, sizeof(count)) != static_cast<ssize_t>(sizeof(count)))
      throw_errno(what + ": write count " + std::to_string(count));
    return fd;
  }
};

}  // namespace

const FileKindModule& eventfd_kind() {
  static const EventfdKind kind;
  return kind;
}

}  // namespace flakelab::engine
