// Image-side rules for files whose contents travel in the image (SavedFile:
// unlinked files, memfds, shared anonymous memory) and for named pipes (Fifo):
// limits, validation and the `show` summary. Dump and restore live in
// saved_files.cpp and fifos.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct SavedFileLimits {
  // Stored bytes (holes cost nothing) of one file, and of all of them together:
  // they live in process.img, whose payload is bounded by kMaxMetadataBytes.
  static constexpr uint64_t kMaxFileBytes = 64ull << 20;
  static constexpr uint64_t kMaxTotalBytes = 128ull << 20;
  static constexpr uint64_t kMaxFileSize = 1ull << 40;  // st_size
  static constexpr int kMaxRuns = 1 << 16;              // DataRuns per file
  static constexpr size_t kMaxMemfdName = 249;          // memfd_create(2)
  static constexpr uint32_t kKnownSeals = 0x3f;         // F_SEAL_SEAL .. F_SEAL_EXEC
};

bool is_saved_file_kind(pb::FileKind kind);  // FILE_SAVED, FILE_FIFO

// Checks saved_files, fifos and every reference to them from files and vmas.
// Throws ImageError("image <file>: <field>: <problem>").
void validate_saved_content(const pb::Process& p, const std::string& file);

// Lines for `show`: one per saved file and per FIFO buffer ("" if none).
std::string show_saved_content(const pb::Process& p);

}  // namespace flakelab::engine
