// A checkpoint image: metadata (protobuf, engine/proto/image.proto) plus raw page
// data. The harness keeps images in memory; the CLI reads and writes directories:
//
//   DIR/process.img   header + serialized pb::TreeImage (pb::Process in version 1)
//   DIR/pages.img     header + the bytes of every PageRun, process by process
//
// Each file starts with a 32-byte header: magic, format version, header size,
// payload length and the payload's CRC32C (engine/README.md, "Image format"); a
// version 3 pages.img pads it to 4096 bytes. Everything read
// back is untrusted: decode_image() and validate_image() throw ImageError naming
// the file and field for anything malformed, and never crash.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "flakelab/engine/page_bytes.h"
#include "image.pb.h"

namespace flakelab::engine {

inline constexpr const char* kProcessFile = "process.img";
inline constexpr const char* kPagesFile = "pages.img";
// Version 1: process.img holds one pb::Process. Version 2 (process trees):
// process.img holds a pb::TreeImage, pages.img the pages of every live process in
// tree order. Version 3: as version 2, and pages.img's header is padded with
// zeros to 4096 bytes (header_size 4096), so that the payload starts on a page
// boundary: a dump writes pages straight from the process into the file, and
// restore maps the file and copies from the page cache, neither holding the
// pages in memory. Readers take all three; writers use 1 for images without tree
// records (so such images stay readable by older builds) and 3 otherwise.
inline constexpr uint32_t kImageFormatVersion = 1;
inline constexpr uint32_t kTreeFormatVersion = 2;
inline constexpr uint32_t kPageAlignedFormatVersion = 3;

// One live process: metadata and its page data.
struct ProcessImage {
  pb::Process process;
  PageBytes pages;   // concatenated PageRun contents
};

// The pages payload of an image read with PagesCheck::kByRestore, not checked
// against its CRC yet: restore_process() checksums each piece of it just before
// copying it into a process and fails (killing everything it made) if the whole
// does not match, before any restored process runs.
struct UncheckedPages {
  std::string file;                 // names the error
  const uint8_t* payload = nullptr;  // the mapped payload; the image's pages are views of it
  uint64_t size = 0;
  uint32_t crc = 0;                 // what the header says
};

// A tree of processes, the root one of them. A version 1 image reads into a
// one-process tree: `processes` holds the root alone and `tree` stays empty (no
// record is made up for it: there is no group or session to put in one, and what
// is written must stay version 1). Code that walks the processes needs no case for
// the root; only code about tree records looks at `tree`.
struct Image {
  // Every live process, root first, then the tree's other live processes in the
  // order of their records (parents before children). Decoded, read and dumped
  // images have at least the root; validate_image() refuses one without.
  std::vector<ProcessImage> processes;
  // Process trees: one record per process (root first, parents before children;
  // pid, parent, group, session, zombie exit status), live or zombie, with
  // `process` left unset: the live ones' are `processes`, in the same order.
  // Empty: a single process without tree records (version 1 images), restored
  // into the restorer's session and group.
  pb::TreeImage tree;
  // Set only by read_image_dir(dir, PagesCheck::kByRestore) for a mapped payload.
  std::shared_ptr<const UncheckedPages> unchecked_pages;

  // The root process (the only one of a version 1 image). std::out_of_range for
  // an image without processes.
  ProcessImage& root() { return processes.at(0); }
  const ProcessImage& root() const { return processes.at(0); }
};

// Limits that keep a hostile image from making us allocate or loop without bound.
struct ImageLimits {
  static constexpr uint64_t kMaxVmas = 65530;          // vm.max_map_count default
  static constexpr uint64_t kMaxPageRuns = 1u << 22;
  static constexpr uint64_t kMaxThreads = 512;
  static constexpr uint64_t kMaxPendingSignals = 1u << 16;
  static constexpr uint64_t kMaxFds = 65536;
  static constexpr uint32_t kMaxFdNumber = 1u << 20;      // fs.nr_open default
  static constexpr uint32_t kMaxPipeCapacity = 1u << 28;
  static constexpr uint64_t kMaxXstate = 64 * 1024;
  static constexpr uint64_t kMaxAuxv = 4096;
  static constexpr uint64_t kMaxPath = 4095;
  static constexpr uint64_t kMaxPagesBytes = 64ull << 30;
  static constexpr uint64_t kMaxMetadataBytes = 256ull << 20;
  static constexpr uint64_t kMaxTreeProcesses = 1024;
  // Highest user address on x86-64 with 4-level paging (TASK_SIZE).
  static constexpr uint64_t kUserTop = 0x7ffffffff000ull;
};

// The two files' bytes, framed. encode_image_files() handles trees too (version 2).
std::vector<uint8_t> encode_process_file(const pb::Process& process);
std::pair<std::vector<uint8_t>, std::vector<uint8_t>> encode_image_files(const Image& image);
std::vector<uint8_t> encode_pages_file(std::span<const uint8_t> pages);

// Checks framing and schema, then validate_image(). `*_name` only labels errors.
Image decode_image(std::span<const uint8_t> process_file, std::span<const uint8_t> pages_file,
                   const std::string& process_name = kProcessFile,
                   const std::string& pages_name = kPagesFile);

// Semantic checks (addresses, sizes, counts, ordering). Restore calls it too, so an
// in-memory image from the harness gets the same scrutiny as one from disk.
void validate_image(const Image& image, const std::string& process_name = kProcessFile,
                    const std::string& pages_name = kPagesFile);

// Writes DIR/process.img and DIR/pages.img (DIR is created if missing); each file is
// written to a temporary name and renamed into place, pages.img first.
void write_image_dir(const Image& image, const std::string& dir);
// Reads and checks both files. The pages of a version 3 image are a view of
// DIR/pages.img mapped read-only; older versions are read into memory. The page
// data is checked against its CRC before this returns, or, with kByRestore and a
// version 3 image, by restore_process() as it copies the pages (one pass over
// them instead of two); nothing else may use such pages unchecked.
enum class PagesCheck { kNow, kByRestore };
Image read_image_dir(const std::string& dir, PagesCheck pages_check = PagesCheck::kNow);

}  // namespace flakelab::engine
