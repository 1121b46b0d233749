// DIR/pages.img written piece by piece: the dump that writes its image as it goes
// (dump_process_to_dir) puts each process's pages into the file as it reads them,
// instead of holding them in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "flakelab/engine/page_bytes.h"
#include "payload_crc.h"

namespace flakelab::engine {

class MappedFile;

// DIR/pages.img in format version 3, written in pieces: put() stores each piece
// at its payload offset in DIR/pages.img.tmp and keeps its CRC (from several
// threads at once); finish() checks that the pieces cover the payload exactly,
// writes the header, removes DIR/process.img (an earlier dump's must not meet
// these pages) and renames the file into place. Destroyed unfinished, it
// removes the temporary file.
//
// An earlier dump's pages.img is rewritten in place when nobody else can see
// it: a regular file with one name, which no reader holds (readers keep a shared
// flock on it while they read or map it; we get an exclusive one). Writing over
// existing tmpfs pages is a quarter faster than into new ones (256 MiB: 55 vs 70
// ms) and leaves no old file to free (10 ms). The old image is given up at once
// then (process.img removed, pages.img renamed to the temporary name): a dump
// that fails leaves no image instead of the old one. Otherwise the old files
// stay as they are until finish().
class PagesFileWriter {
 public:
  explicit PagesFileWriter(const std::string& dir);  // creates DIR if missing
  ~PagesFileWriter();
  PagesFileWriter(const PagesFileWriter&) = delete;
  PagesFileWriter& operator=(const PagesFileWriter&) = delete;

  void put(uint64_t offset, std::span<const uint8_t> bytes);
  // The same with the bytes' CRC32C already computed.
  void put(uint64_t offset, std::span<const uint8_t> bytes, uint32_t crc);
  // Payload bytes [offset, offset + n), after the last put(): a read-only view of
  // the file, mapped on first use (nothing is read until touched).
  PageBytes view(uint64_t offset, uint64_t n);
  // When the file is a rewritten one: writable memory for payload bytes [offset,
  // offset + len) (offset a page multiple), a shared mapping of the file that
  // goes with the pointer, so that copying threads fill the file side by side,
  // without write() (which holds the file's lock) and its per-page cost. Null for
  // a new file: write() into new tmpfs pages beats faulting them in. Thread-safe.
  std::shared_ptr<uint8_t> window(uint64_t offset, size_t len);
  // Bytes filled through window(): checksummed there (still in cache) and counted.
  void placed(uint64_t offset, const uint8_t* data, size_t len);
  void finish(uint64_t payload_len);
  // finish() keeps the pages.img it replaced open, so that freeing its pages (10
  // ms for 256 MiB) happens here, where the caller can overlap it with other
  // work, not inside rename(). The destructor does it otherwise.
  void drop_replaced();
  // Whether there is a large replaced file to drop (worth a thread of its own).
  bool replaced_is_large() const { return replaced_size_ >= (uint64_t{16} << 20); }

 private:
  std::string dir_, tmp_, path_;
  int fd_ = -1;
  int replaced_ = -1;
  uint64_t replaced_size_ = 0;
  PieceCrcs crcs_;
  std::shared_ptr<MappedFile> map_;
  bool finished_ = false;
  bool reused_ = false;  // fd_ is the previous pages.img, exclusively flocked
  std::mutex size_mutex_;
  uint64_t size_ = 0;    // of a rewritten file, as window() grew it
};

}  // namespace flakelab::engine
