// Image directories: DIR/process.img and DIR/pages.img, written atomically and read
// with the pages mapped (version 3) or read into memory (older versions).
#include "image_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "crc32c.h"
#include "flakelab/engine/error.h"
#include "image_codec.h"
#include "image_frame.h"
#include "mapped_file.h"
#include "payload_crc.h"
#include "whole_file.h"

namespace flakelab::engine {
namespace {

using detail::kPageAlignedHeaderSize;
using detail::kPagesMagic;
using detail::kProcessMagic;

// A shared flock on a pages file we read: a dump into the same directory then
// leaves it alone (take_for_rewrite). The lock lasts as long as the open file
// does, mappings of it included. A dump holds the exclusive lock only while it
// rewrites the file: wait for it, within reason.
void hold_for_reading(int fd, const std::string& path) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    // A file system without flock: no dump can take the exclusive lock there
    // either, so none rewrites files in place; nothing to guard against.
    if (errno != EWOULDBLOCK && errno != EINTR) return;
    if (std::chrono::steady_clock::now() > deadline)
      throw EngineError("read " + path + ": a dump has been rewriting it for 10 s (it holds an exclusive flock)",
                        EWOULDBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// pages.img from the page buffers of every process, in order, without joining
// them into one buffer: the payload is written after room for the header while
// its checksum is computed beside it; the header follows.
void write_pages_atomically(const std::string& dir, const std::vector<std::span<const uint8_t>>& parts,
                            uint32_t version) {
  const std::string path = dir + "/" + kPagesFile;
  uint64_t len = 0;
  for (auto p : parts) len += p.size();
  uint32_t crc = 0;
  auto checksum = [&] {
    for (auto p : parts) crc = crc32c(p.data(), p.size(), crc);
  };
  std::string tmp = path + ".tmp";
  {
    WholeFile f(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    {
      std::jthread beside;
      if (len >= kOverlapFrom) beside = std::jthread(checksum);
      uint64_t at = detail::header_size_for(kPagesMagic, version);
      for (auto p : parts) {
        f.write_at(p, at);
        at += p.size();
      }
    }  // joins
    if (len < kOverlapFrom) checksum();
    f.write_at(detail::padded_header(kPagesMagic, len, crc, version), 0);
  }
  try {
    remove_stale_process_file(dir);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  rename_into_place(tmp, path);
}

}  // namespace

// Before a new pages file takes its place: a process file from an earlier dump
// must not meet it.
void remove_stale_process_file(const std::string& dir) {
  std::string path = dir + "/" + kProcessFile;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink " + path);
}

void write_process_file(const Image& image, const std::string& dir) {
  if (image.tree.processes().empty()) {
    write_file_atomically(dir + "/" + kProcessFile, encode_process_file(image.root().process));
    return;
  }
  std::string bytes = serialize_tree(image);
  write_file_atomically(dir + "/" + kProcessFile,
                        detail::frame(kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                      kPageAlignedFormatVersion));
}

void write_image_dir(const Image& image, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  // Pages first: a directory with a process file always has its pages. The header
  // and the page data go out as separate writes: no framed copy of hundreds of MiB.
  // One pages payload for all of the tree's processes.
  std::vector<std::span<const uint8_t>> parts;
  for (const auto& p : image.processes) parts.emplace_back(p.pages);
  write_pages_atomically(dir, parts, image.tree.processes().empty() ? kImageFormatVersion : kPageAlignedFormatVersion);
  write_process_file(image, dir);
}

Image read_image_dir(const std::string& dir, PagesCheck pages_check) {
  std::string process_path = dir + "/" + kProcessFile;
  std::string pages_path = dir + "/" + kPagesFile;
  Image image;
  uint32_t version =
      parse_process(WholeFile(process_path, O_RDONLY).read_all(ImageLimits::kMaxMetadataBytes + 64), process_path, image);
  WholeFile pages(pages_path, O_RDONLY);
  hold_for_reading(pages.fd(), pages_path);  // while `pages` or a mapping of it lives
  uint64_t size = pages.size();
  uint8_t head[kPageAlignedHeaderSize];
  size_t got = pages.read_at(head, static_cast<size_t>(std::min<uint64_t>(size, sizeof(head))), 0);
  detail::Header h = detail::check_header({head, got}, size, kPagesMagic, ImageLimits::kMaxPagesBytes, pages_path);
  check_versions_match(version, h.version, pages_path);
  PageBytes all_pages;  // every process's, in tree order
  if (h.header_size == kPageAlignedHeaderSize && h.payload_len > 0) {
    // Version 3: the pages stay in the page cache; restore copies from the mapping.
    auto map = std::make_shared<MappedFile>(pages.fd(), static_cast<size_t>(h.header_size + h.payload_len), pages_path);
    const uint8_t* payload = map->data() + h.header_size;
    if (pages_check == PagesCheck::kNow)
      check_mapped_payload(h, payload, h.payload_len, pages_path);
    else
      image.unchecked_pages = std::make_shared<UncheckedPages>(UncheckedPages{pages_path, payload, h.payload_len, h.payload_crc});
    all_pages = PageBytes::view(std::move(map), payload, h.payload_len);
  } else {
    // Older versions: read straight into the image's buffer (no second copy).
    all_pages.resize(h.payload_len);
    read_payload_checked(pages, h, all_pages.data(), all_pages.size(), pages_path);
  }
  split_pages(image, std::move(all_pages), pages_path);
  validate_image(image, process_path, pages_path);
  return image;
}

}  // namespace flakelab::engine
