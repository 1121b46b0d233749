#include "file_kind_traits.h"

#include <array>

namespace flakelab::engine {
namespace {

constexpr std::array kTraits{
#define FLAKELAB_FILE_KIND(value, module, shape, record) FileKindTraits{pb::value, #module, FileShape::shape},
#include "all_kinds.inc"
#undef FLAKELAB_FILE_KIND
};

}  // namespace

const FileKindTraits* file_kind_traits(pb::FileKind kind) {
  for (const FileKindTraits& t : kTraits)
    if (t.kind == kind) return &t;
  return nullptr;
}

}  // namespace flakelab::engine
