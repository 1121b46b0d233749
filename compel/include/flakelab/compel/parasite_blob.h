// A parasite blob embedded at build time by compel_add_parasite(<name>).
#pragma once

#include <cstddef>
#include <cstdint>

namespace flakelab::compel {

struct ParasiteBlob {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// The blob with only compel's built-in commands.
ParasiteBlob default_parasite_blob();

}  // namespace flakelab::compel

// FLK_PARASITE_BLOB(name): the ParasiteBlob built by compel_add_parasite(name).
#define FLK_DECLARE_PARASITE_BLOB(name)            \
  extern "C" const uint8_t flk_blob_##name##_data[]; \
  extern "C" const uint64_t flk_blob_##name##_size
#define FLK_PARASITE_BLOB(name) \
  (::flakelab::compel::ParasiteBlob{flk_blob_##name##_data, static_cast<size_t>(flk_blob_##name##_size)})
