// A file read or written whole, and atomic replacement of a file by a new one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace flakelab::engine {

// "a FIFO", "a directory", ... for messages about a file of the wrong type.
std::string file_type_name(mode_t mode);

// Owns one fd for reading/writing a whole file. Errors name the path. Only a
// regular file is accepted: a FIFO or device in its place fails at once (EngineError).
class WholeFile {
 public:
  WholeFile(const std::string& path, int flags, mode_t mode = 0);
  ~WholeFile();
  WholeFile(const WholeFile&) = delete;
  WholeFile& operator=(const WholeFile&) = delete;

  int fd() const { return fd_; }
  // The whole file; ImageError if it is larger than `limit`.
  std::vector<uint8_t> read_all(uint64_t limit);
  uint64_t size();
  // Reads up to `size` bytes at `offset`; fewer only at end of file.
  size_t read_at(uint8_t* data, size_t size, uint64_t offset);
  // Writes `data` at `offset` (pwrite: the file position is not used). Not
  // fsync'd: images are working files of a stress run, and the rename into place
  // already keeps a reader from seeing half a file.
  void write_at(std::span<const uint8_t> data, uint64_t offset);

 private:
  std::string path_;
  int fd_ = -1;
};

// rename(2) `tmp` over `path`; on failure `tmp` is removed.
void rename_into_place(const std::string& tmp, const std::string& path);
// PATH.tmp with `bytes`, renamed over `path`.
void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace flakelab::engine
