// signalfd's record: a mask without SIGKILL and SIGSTOP.
#include <signal.h>

#include "file_record.h"
#include "flakelab/base/hex.h"

namespace flakelab::engine {
namespace {

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_signalfd()) check.fail("signalfd", "missing");
  if (f.signalfd().mask() & ((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1))))
    check.fail("signalfd.mask", base::hex(f.signalfd().mask()) + " has SIGKILL or SIGSTOP, which no signalfd can take");
}

std::string show(const pb::File& f) {
  return record_text("signalfd sigmask %016llx", static_cast<unsigned long long>(f.signalfd().mask()));
}

}  // namespace

const FileRecord* signalfd_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
