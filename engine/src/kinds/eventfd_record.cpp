// eventfd's record: a counter below the maximum.
#include "file_record.h"

namespace flakelab::engine {
namespace {

void validate(const pb::File& f, const RecordCheck& check) {
  if (!f.has_eventfd()) check.fail("eventfd", "missing");
  if (f.eventfd().count() == ~uint64_t{0}) check.fail("eventfd.count", "0xffffffffffffffff is above the maximum");
}

std::string show(const pb::File& f) {
  return record_text("eventfd count %llu%s", static_cast<unsigned long long>(f.eventfd().count()),
                     f.eventfd().semaphore() ? " semaphore" : "");
}

}  // namespace

const FileRecord* eventfd_record() {
  static const FileRecord record{validate, show};
  return &record;
}

}  // namespace flakelab::engine
