// An AF_UNIX socket ("socket:[N]"): the fd's File here names the socket by inode;
// its state (names, peers, queues, files in flight) is collected for the whole
// tree at once by collect_unix_sockets() and restored by restore_unix_sockets()
// after every other file (unix_sockets.h), so open() leaves it to them.
#include "../unix_sockets.h"
#include "kind.h"

namespace flakelab::engine {
namespace {

class UnixSocketKind : public FileKindModule {
 public:
  UnixSocketKind() : FileKindModule(pb::FILE_UNIX_SOCKET) {}
  bool matches(const FdProbe& fd) const override { return is_socket_link(fd.link); }
  std::string check(const FdProbe& fd) const override {
    return describe_socket_fd(fd.pid, fd.fd, fd.st.st_ino, fd.info.flags(), nullptr);
  }
  std::string dump(const FdProbe& fd, pb::File& f) const override {
    return describe_socket_fd(fd.pid, fd.fd, fd.st.st_ino, fd.info.flags(), &f);
  }
  compel::UniqueFd open(const pb::File&, OpenContext&) const override { return {}; }  // restore_unix_sockets()
};

}  // namespace

const FileKindModule& unix_socket_kind() {
  static const UnixSocketKind kind;
  return kind;
}

}  // namespace flakelab::engine
