// signalfd: its signal mask, from fdinfo.
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../anon_files.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

class SignalfdKind : public AnonInodeKind {
 public:
  SignalfdKind() : AnonInodeKind(pb::FILE_SIGNALFD, "anon_inode:[signalfd]") {}

 protected:
  std::string record_state(const FdProbe& fd, bool, pb::File& f) const override {
    auto mask = fd.info.number("sigmask", 16);
    if (!mask) return "fdinfo has no readable sigmask";
    f.mutable_signalfd()->set_mask(*mask);
    return "";
  }

  base::UniqueFd create(const pb::File& f, const std::string& what) const override {
    uint64_t mask = f.signalfd().mask();
    base::UniqueFd fd(static_cast<int>(syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC)));
    if (!fd) throw_errno(what + ": signalfd");
    return fd;
  }
};

}  // namespace

const FileKindModule& signalfd_kind() {
  static const SignalfdKind kind;
  return kind;
}

}  // namespace flakelab::engine
