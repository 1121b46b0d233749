// Framing of image files and reading/writing image directories.
//
// Header (32 bytes, little endian):
//   0  u64 magic         "FLKPROC\0" or "FLKPAGE\0"
//   8  u32 version       kImageFormatVersion
//  12  u32 header_size   32
//  16  u64 payload_len   bytes after the header
//  24  u32 payload_crc   CRC32C of the payload
//  28  u32 header_crc    CRC32C of bytes 0..27
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "image_frame.h"

namespace flakelab::engine {
namespace {

using detail::kHeaderSize;
using detail::kPagesMagic;
using detail::kProcessMagic;

struct Header {
  uint64_t magic;
  uint32_t version;
  uint32_t header_size;
  uint64_t payload_len;
  uint32_t payload_crc;
  uint32_t header_crc;
};
static_assert(sizeof(Header) == kHeaderSize);

std::vector<uint8_t> frame(uint64_t magic, std::span<const uint8_t> payload) {
  return detail::frame(magic, payload, kImageFormatVersion);
}

std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::vector<uint8_t> detail::frame(uint64_t magic, std::span<const uint8_t> payload, uint32_t version) {
  Header h{magic, version, kHeaderSize, payload.size(), crc32c(payload.data(), payload.size()), 0};
  h.header_crc = crc32c(&h, offsetof(Header, header_crc));
  std::vector<uint8_t> out(kHeaderSize + payload.size());
  std::memcpy(out.data(), &h, kHeaderSize);
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  return out;
}

namespace {

// Returns the payload of a framed file after checking every header field.
std::span<const uint8_t> unframe(std::span<const uint8_t> file, uint64_t magic, uint64_t max_payload,
                                 const std::string& name) {
  if (file.size() < kHeaderSize)
    throw ImageError(name, "header", "truncated: file has " + std::to_string(file.size()) +
                                         " bytes, the header alone needs " + std::to_string(kHeaderSize));
  Header h;
  std::memcpy(&h, file.data(), kHeaderSize);
  if (h.magic != magic)
    throw ImageError(name, "magic", "got " + hex(h.magic) + ", expected " + hex(magic) + " (not a flakelab " +
                                        (magic == kProcessMagic ? "process" : "pages") + " image)");
  if (crc32c(&h, offsetof(Header, header_crc)) != h.header_crc)
    throw ImageError(name, "header_crc", "header checksum mismatch (header is corrupt)");
  if (h.version != kImageFormatVersion)
    throw ImageError(name, "version", "format version " + std::to_string(h.version) +
                                          " is not supported (this build reads version " +
                                          std::to_string(kImageFormatVersion) + ")");
  if (h.header_size != kHeaderSize)
    throw ImageError(name, "header_size", "is " + std::to_string(h.header_size) + ", expected " +
                                              std::to_string(kHeaderSize));
  if (h.payload_len > max_payload)
    throw ImageError(name, "payload_len", std::to_string(h.payload_len) + " bytes exceeds the limit of " +
                                              std::to_string(max_payload));
  uint64_t have = file.size() - kHeaderSize;
  if (h.payload_len > have)
    throw ImageError(name, "payload_len", "truncated: header says " + std::to_string(h.payload_len) +
                                              " payload bytes, file has " + std::to_string(have));
  if (h.payload_len < have)
    throw ImageError(name, "payload_len", std::to_string(have - h.payload_len) +
                                              " unexpected trailing bytes after the payload");
  auto payload = file.subspan(kHeaderSize);
  if (crc32c(payload.data(), payload.size()) != h.payload_crc)
    throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
  return payload;
}

// Owns one fd for reading/writing a whole file.
class File {
 public:
  File(const std::string& path, int flags, mode_t mode = 0) : path_(path) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd_ < 0) throw_errno("open " + path);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::vector<uint8_t> read_all(uint64_t limit) {
    struct stat st;
    if (fstat(fd_, &st) != 0) throw_errno("fstat " + path_);
    if (static_cast<uint64_t>(st.st_size) > limit)
      throw ImageError(path_, "size", std::to_string(st.st_size) + " bytes exceeds the limit of " +
                                          std::to_string(limit));
    std::vector<uint8_t> buf(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::read(fd_, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read " + path_);
      if (n == 0) break;  // shrank under us: the framing check reports it
      done += static_cast<size_t>(n);
    }
    buf.resize(done);
    return buf;
  }

  void write_all(std::span<const uint8_t> data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("write " + path_);
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd_) != 0) throw_errno("fsync " + path_);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

void write_file_atomically(const std::string& path, std::span<const uint8_t> data) {
  std::string tmp = path + ".tmp";
  {
    File f(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f.write_all(data);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp + " to " + path, err);
  }
}

}  // namespace

std::vector<uint8_t> encode_process_file(const pb::Process& process) {
  std::string bytes;
  if (!process.SerializeToString(&bytes)) throw EngineError("serializing process image failed");
  return frame(kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<uint8_t> encode_pages_file(std::span<const uint8_t> pages) { return frame(kPagesMagic, pages); }

Image decode_image(std::span<const uint8_t> process_file, std::span<const uint8_t> pages_file,
                   const std::string& process_name, const std::string& pages_name) {
  Image image;
  auto meta = unframe(process_file, kProcessMagic, ImageLimits::kMaxMetadataBytes, process_name);
  if (!image.process.ParseFromArray(meta.data(), static_cast<int>(meta.size())))
    throw ImageError(process_name, "payload", "not a valid flakelab.engine.pb.Process message");
  auto pages = unframe(pages_file, kPagesMagic, ImageLimits::kMaxPagesBytes, pages_name);
  image.pages.assign(pages.begin(), pages.end());
  validate_image(image, process_name, pages_name);
  return image;
}

void write_image_dir(const Image& image, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  // Pages first: a directory with a process file always has its pages.
  write_file_atomically(dir + "/" + kPagesFile, encode_pages_file(image.pages));
  write_file_atomically(dir + "/" + kProcessFile, encode_process_file(image.process));
}

Image read_image_dir(const std::string& dir) {
  std::string process_path = dir + "/" + kProcessFile;
  std::string pages_path = dir + "/" + kPagesFile;
  auto process_bytes = File(process_path, O_RDONLY).read_all(ImageLimits::kMaxMetadataBytes + 64);
  auto pages_bytes = File(pages_path, O_RDONLY).read_all(ImageLimits::kMaxPagesBytes + 64);
  return decode_image(process_bytes, pages_bytes, process_path, pages_path);
}

}  // namespace flakelab::engine
