// The image side of a unix socket's fd: how `flakelab show` names it (its
// UnixSocket record is checked and shown with the process's sockets, unix_image.h).
#include "file_record.h"

namespace flakelab::engine {
namespace {

std::string show(const pb::File& f) { return record_text("unix socket #%u", f.unix_socket()); }

}  // namespace

const FileRecord* unix_socket_record() {
  static const FileRecord record{nullptr, show};
  return &record;
}

}  // namespace flakelab::engine
