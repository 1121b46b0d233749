#include "image_codec.h"

#include <cstring>

#include "flakelab/engine/error.h"
#include "image_frame.h"

namespace flakelab::engine {
namespace {

using detail::kPageAlignedHeaderSize;
using detail::kPagesMagic;
using detail::kProcessMagic;

std::vector<uint8_t> frame(uint64_t magic, std::span<const uint8_t> payload) {
  return detail::frame(magic, payload, kImageFormatVersion);
}

PageBytes all_pages(const Image& image) {
  size_t total = 0;
  for (const auto& p : image.processes) total += p.pages.size();
  PageBytes out;
  out.resize(total);
  size_t at = 0;
  for (const auto& p : image.processes) {
    if (!p.pages.empty()) std::memcpy(out.data() + at, p.pages.data(), p.pages.size());
    at += p.pages.size();
  }
  return out;
}

}  // namespace

uint32_t parse_process(std::span<const uint8_t> process_file, const std::string& process_name, Image& image) {
  uint32_t version = 0;
  auto meta = detail::unframe(process_file, kProcessMagic, ImageLimits::kMaxMetadataBytes, process_name, &version);
  if (version == kImageFormatVersion) {
    if (!image.processes.emplace_back().process.ParseFromArray(meta.data(), static_cast<int>(meta.size())))
      throw ImageError(process_name, "payload", "not a valid flakelab.engine.pb.Process message");
    return version;
  }
  if (!image.tree.ParseFromArray(meta.data(), static_cast<int>(meta.size())))
    throw ImageError(process_name, "payload", "not a valid flakelab.engine.pb.TreeImage message");
  auto& records = *image.tree.mutable_processes();
  if (records.empty()) throw ImageError(process_name, "processes", "a tree image has no processes");
  if (static_cast<uint64_t>(records.size()) > ImageLimits::kMaxTreeProcesses)
    throw ImageError(process_name, "processes", "count " + std::to_string(records.size()) + " exceeds the limit of " +
                                                    std::to_string(ImageLimits::kMaxTreeProcesses));
  for (int i = 0; i < records.size(); ++i) {
    auto* r = records.Mutable(i);
    // The root is live (validate_tree() refuses a zombie root).
    if (i == 0 || !r->zombie()) image.processes.emplace_back().process.Swap(r->mutable_process());
    r->clear_process();
  }
  return version;
}

void split_pages(Image& image, PageBytes payload, const std::string& pages_name) {
  auto& root = image.root();
  // Version 1: the whole payload is the one process's (validate_image() checks
  // that it matches pages_bytes).
  if (image.tree.processes().empty()) {
    root.pages = std::move(payload);
    return;
  }
  uint64_t total = payload.size();
  uint64_t offset = root.process.pages_bytes();
  if (offset > total)
    throw ImageError(pages_name, "payload_len", "holds " + std::to_string(total) + " bytes, fewer than the root's " +
                                                    std::to_string(offset) + " bytes of pages");
  for (auto& p : std::span(image.processes).subspan(1)) {
    uint64_t n = p.process.pages_bytes();
    if (n > total - offset)
      throw ImageError(pages_name, "payload_len", "holds " + std::to_string(total) + " bytes, too few for pid " +
                                                      std::to_string(p.process.pid()) + "'s pages");
    p.pages = payload.slice(offset, n);
    offset += n;
  }
  if (offset != total)
    throw ImageError(pages_name, "payload_len", std::to_string(total - offset) +
                                                    " bytes beyond the pages of every process in the tree");
  // The root's pages come first: it keeps the payload itself, cut short, not a copy.
  payload.resize(root.process.pages_bytes());
  root.pages = std::move(payload);
}

void check_versions_match(uint32_t process_version, uint32_t pages_version, const std::string& pages_name) {
  if (process_version != pages_version)
    throw ImageError(pages_name, "version", "format version " + std::to_string(pages_version) +
                                                " does not match the process file's version " +
                                                std::to_string(process_version));
}

std::string serialize_tree(const Image& image) {
  pb::TreeImage tree = image.tree;
  size_t next = 0;
  for (int i = 0; i < tree.processes_size(); ++i) {
    auto* r = tree.mutable_processes(i);
    if (i > 0 && r->zombie()) continue;
    if (next >= image.processes.size())
      throw EngineError("encoding the image: the tree lists more live processes than it holds");
    *r->mutable_process() = image.processes[next++].process;
  }
  if (next != image.processes.size())
    throw EngineError("encoding the image: the tree lists fewer live processes than it holds");
  std::string bytes;
  if (!tree.SerializeToString(&bytes)) throw EngineError("serializing the tree image failed");
  return bytes;
}

std::vector<uint8_t> encode_process_file(const pb::Process& process) {
  std::string bytes;
  if (!process.SerializeToString(&bytes)) throw EngineError("serializing process image failed");
  return frame(kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<uint8_t> encode_pages_file(std::span<const uint8_t> pages) { return frame(kPagesMagic, pages); }

std::pair<std::vector<uint8_t>, std::vector<uint8_t>> encode_image_files(const Image& image) {
  if (image.tree.processes().empty()) return {encode_process_file(image.root().process), encode_pages_file(image.root().pages)};
  std::string bytes = serialize_tree(image);
  PageBytes pages = all_pages(image);
  return {detail::frame(kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                        kPageAlignedFormatVersion),
          detail::frame(kPagesMagic, pages, kPageAlignedFormatVersion)};
}

Image decode_image(std::span<const uint8_t> process_file, std::span<const uint8_t> pages_file,
                   const std::string& process_name, const std::string& pages_name) {
  Image image;
  uint32_t version = parse_process(process_file, process_name, image);
  uint32_t pages_version = 0;
  auto pages = detail::unframe(pages_file, kPagesMagic, ImageLimits::kMaxPagesBytes, pages_name, &pages_version);
  check_versions_match(version, pages_version, pages_name);
  PageBytes payload;
  payload.assign(pages.begin(), pages.end());
  split_pages(image, std::move(payload), pages_name);
  validate_image(image, process_name, pages_name);
  return image;
}

}  // namespace flakelab::engine
