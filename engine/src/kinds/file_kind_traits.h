// What the image format knows of each kind of open file (all_kinds.inc), said
// once: the validator, `show` and the engine's dispatcher ask here rather than
// testing ranges of pb::FileKind. Part of flakelab_engine_image (no ptrace).
#pragma once

#include "flakelab/engine/image.h"

namespace flakelab::engine {

enum class FileShape {
  kByPath,      // reopened by its path, inode checked (File.path, pos, inode)
  kAnonInode,   // state in the kernel object (File's kind record), created anew; no path
  kPipe,        // one end of a Process.pipes record (File.pipe_id); no path
  kSavedTable,  // a record of Process.saved_files/fifos holds its contents; path for people
  kSocket,      // a Process.unix_sockets record (File.unix_socket); no path
};

struct FileKindTraits {
  pb::FileKind kind;
  const char* module;  // kinds/<module>.cpp
  FileShape shape;
};

// nullptr for a kind the engine does not know (FILE_UNKNOWN, a value from a newer image).
const FileKindTraits* file_kind_traits(pb::FileKind kind);

inline bool is_anon_inode_kind(pb::FileKind kind) {
  const FileKindTraits* t = file_kind_traits(kind);
  return t && t->shape == FileShape::kAnonInode;
}
// Opened from their records' tables on restore (saved files, FIFOs), not one by one.
inline bool is_saved_table_kind(pb::FileKind kind) {
  const FileKindTraits* t = file_kind_traits(kind);
  return t && t->shape == FileShape::kSavedTable;
}
// File.path names the file (restore opens it, or recreates it there).
inline bool has_path(pb::FileKind kind) {
  const FileKindTraits* t = file_kind_traits(kind);
  return t && (t->shape == FileShape::kByPath || t->shape == FileShape::kSavedTable);
}

}  // namespace flakelab::engine
