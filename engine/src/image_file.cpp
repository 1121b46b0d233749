// Framing of image files and reading/writing image directories.
//
// Header (32 bytes, little endian):
//   0  u64 magic         "FLKPROC\0" or "FLKPAGE\0"
//   8  u32 version       1, 2 or 3 (image.h)
//  12  u32 header_size   where the payload starts: 32; 4096 in version 3 pages
//                        files, whose bytes 32..4095 are zero
//  16  u64 payload_len   bytes after the header
//  24  u32 payload_crc   CRC32C of the payload
//  28  u32 header_crc    CRC32C of bytes 0..27
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crc32c.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "image_dir.h"
#include "image_frame.h"

namespace flakelab::engine {
namespace {

using detail::kHeaderSize;
using detail::kPageAlignedHeaderSize;
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

std::array<uint8_t, detail::kHeaderSize> detail::frame_header(uint64_t magic, std::span<const uint8_t> payload,
                                                               uint32_t version) {
  return frame_header(magic, payload.size(), crc32c(payload.data(), payload.size()), version);
}

size_t detail::header_size_for(uint64_t magic, uint32_t version) {
  return magic == kPagesMagic && version == kPageAlignedFormatVersion ? kPageAlignedHeaderSize : kHeaderSize;
}

std::array<uint8_t, detail::kHeaderSize> detail::frame_header(uint64_t magic, uint64_t payload_len, uint32_t payload_crc,
                                                               uint32_t version) {
  Header h{magic, version, static_cast<uint32_t>(header_size_for(magic, version)), payload_len, payload_crc, 0};
  h.header_crc = crc32c(&h, offsetof(Header, header_crc));
  std::array<uint8_t, kHeaderSize> out;
  std::memcpy(out.data(), &h, kHeaderSize);
  return out;
}

std::vector<uint8_t> detail::frame(uint64_t magic, std::span<const uint8_t> payload, uint32_t version) {
  auto head = frame_header(magic, payload, version);
  size_t at = header_size_for(magic, version);
  std::vector<uint8_t> out(at + payload.size());  // the padding, if any, zero
  std::memcpy(out.data(), head.data(), kHeaderSize);
  if (!payload.empty()) std::memcpy(out.data() + at, payload.data(), payload.size());
  return out;
}

namespace {

// Checks every field of the header at the start of `head` for a file of
// `file_size` bytes; returns it.
Header check_header(std::span<const uint8_t> head, uint64_t file_size, uint64_t magic, uint64_t max_payload,
                    const std::string& name) {
  if (head.size() < kHeaderSize)
    throw ImageError(name, "header", "truncated: file has " + std::to_string(file_size) +
                                         " bytes, the header alone needs " + std::to_string(kHeaderSize));
  Header h;
  std::memcpy(&h, head.data(), kHeaderSize);
  if (h.magic != magic)
    throw ImageError(name, "magic", "got " + hex(h.magic) + ", expected " + hex(magic) + " (not a flakelab " +
                                        (magic == kProcessMagic ? "process" : "pages") + " image)");
  if (crc32c(&h, offsetof(Header, header_crc)) != h.header_crc)
    throw ImageError(name, "header_crc", "header checksum mismatch (header is corrupt)");
  if (h.version != kImageFormatVersion && h.version != kTreeFormatVersion && h.version != kPageAlignedFormatVersion)
    throw ImageError(name, "version", "format version " + std::to_string(h.version) +
                                          " is not supported (this build reads versions " +
                                          std::to_string(kImageFormatVersion) + " to " +
                                          std::to_string(kPageAlignedFormatVersion) + ")");
  const size_t header_size = detail::header_size_for(magic, h.version);
  if (h.header_size != header_size)
    throw ImageError(name, "header_size", "is " + std::to_string(h.header_size) + ", expected " +
                                              std::to_string(header_size) + " for format version " +
                                              std::to_string(h.version));
  if (file_size < header_size)
    throw ImageError(name, "header", "truncated: file has " + std::to_string(file_size) +
                                         " bytes, the header alone needs " + std::to_string(header_size));
  if (head.size() < header_size)
    throw ImageError(name, "header", "only " + std::to_string(head.size()) + " of its " + std::to_string(header_size) +
                                         " bytes could be read");
  for (size_t i = kHeaderSize; i < header_size; ++i)
    if (head[i] != 0) throw ImageError(name, "header_padding", "byte " + std::to_string(i) + " is not zero");
  if (h.payload_len > max_payload)
    throw ImageError(name, "payload_len", std::to_string(h.payload_len) + " bytes exceeds the limit of " +
                                              std::to_string(max_payload));
  uint64_t have = file_size - header_size;
  if (h.payload_len > have)
    throw ImageError(name, "payload_len", "truncated: header says " + std::to_string(h.payload_len) +
                                              " payload bytes, file has " + std::to_string(have));
  if (h.payload_len < have)
    throw ImageError(name, "payload_len", std::to_string(have - h.payload_len) +
                                              " unexpected trailing bytes after the payload");
  return h;
}

void check_payload(const Header& h, std::span<const uint8_t> payload, const std::string& name) {
  if (crc32c(payload.data(), payload.size()) != h.payload_crc)
    throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

// Large page payloads: the checksum runs on a second thread beside the file I/O
// (both are memory-bandwidth bound, on different CPUs), in chunks.
constexpr size_t kOverlapFrom = size_t{16} << 20;
constexpr size_t kIoChunk = size_t{8} << 20;

// Returns the payload of a framed file after checking every header field.
std::span<const uint8_t> unframe(std::span<const uint8_t> file, uint64_t magic, uint64_t max_payload,
                                 const std::string& name, uint32_t* version = nullptr) {
  Header h = check_header(file, file.size(), magic, max_payload, name);
  auto payload = file.subspan(h.header_size);
  check_payload(h, payload, name);
  if (version) *version = h.version;
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

  int fd() const { return fd_; }

  std::vector<uint8_t> read_all(uint64_t limit) {
    struct stat st;
    if (fstat(fd_, &st) != 0) throw_errno("fstat " + path_);
    if (static_cast<uint64_t>(st.st_size) > limit)
      throw ImageError(path_, "size", std::to_string(st.st_size) + " bytes exceeds the limit of " +
                                          std::to_string(limit));
    std::vector<uint8_t> buf(static_cast<size_t>(st.st_size));
    buf.resize(read_at(buf.data(), buf.size(), 0));  // shrank under us: the framing check reports it
    return buf;
  }

  uint64_t size() {
    struct stat st;
    if (fstat(fd_, &st) != 0) throw_errno("fstat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

  // Reads up to `size` bytes at `offset`; fewer only at end of file.
  size_t read_at(uint8_t* data, size_t size, uint64_t offset) {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_, data + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read " + path_);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  // Writes `data` at `offset` (pwrite: the file position is not used). Not
  // fsync'd: images are working files of a stress run, and the rename into place
  // already keeps a reader from seeing half a file.
  void write_at(std::span<const uint8_t> data, uint64_t offset) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("write " + path_);
      done += static_cast<size_t>(n);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

void rename_into_place(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename " + tmp + " to " + path, err);
  }
}

void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes) {
  std::string tmp = path + ".tmp";
  {
    File f(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f.write_at(bytes, 0);
  }
  rename_into_place(tmp, path);
}

// The header of a pages file, padded to where its payload starts.
std::vector<uint8_t> padded_header(uint64_t magic, uint64_t payload_len, uint32_t crc, uint32_t version) {
  auto head = detail::frame_header(magic, payload_len, crc, version);
  std::vector<uint8_t> out(detail::header_size_for(magic, version), 0);
  std::memcpy(out.data(), head.data(), head.size());
  return out;
}

// The previous pages.img, open for writing and exclusively flocked, if it may be
// rewritten in place (PagesFileWriter), with its size in `size`; else -1.
int take_for_rewrite(const std::string& path, uint64_t& size) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;  // never open a device or a FIFO
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

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

// Before a new pages file takes its place: a process file from an earlier dump
// must not meet it.
void remove_stale_process_file(const std::string& dir) {
  std::string path = dir + "/" + kProcessFile;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink " + path);
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
    File f(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
    f.write_at(padded_header(kPagesMagic, len, crc, version), 0);
  }
  try {
    remove_stale_process_file(dir);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  rename_into_place(tmp, path);
}

// Reads `size` payload bytes into `out` and checks them against the header's
// checksum, computed chunk by chunk on a second thread as the chunks arrive.
void read_payload_checked(File& f, const Header& h, uint8_t* out, size_t size, const std::string& name) {
  const uint64_t base = h.header_size;
  if (size < kOverlapFrom) {
    if (f.read_at(out, size, base) != size) throw ImageError(name, "payload_len", "file shrank while it was read");
    check_payload(h, {out, size}, name);
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  size_t arrived = 0;  // bytes read so far (guarded by m)
  bool failed = false;
  uint32_t crc = 0;
  {
    std::jthread beside([&] {
      size_t done = 0;
      while (done < size) {
        size_t ready;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return arrived > done || failed; });
          if (failed) return;
          ready = arrived;
        }
        crc = crc32c(out + done, ready - done, crc);
        done = ready;
      }
    });
    try {
      for (size_t at = 0; at < size;) {
        size_t want = std::min(kIoChunk, size - at);
        if (f.read_at(out + at, want, base + at) != want)
          throw ImageError(name, "payload_len", "file shrank while it was read");
        at += want;
        std::lock_guard lock(m);
        arrived = at;
        cv.notify_one();
      }
    } catch (...) {
      {
        std::lock_guard lock(m);
        failed = true;
      }
      cv.notify_one();
      throw;
    }
  }  // joins: crc covers the whole payload
  if (crc != h.payload_crc) throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

// A SIGBUS while reading a mapped file means that it shrank under us (another
// process truncated it). While a SigbusGuard lives, such a SIGBUS on a thread
// inside guarded() makes guarded() return false instead of killing the
// program; any other SIGBUS goes to the disposition that was there before.
thread_local sigjmp_buf* t_sigbus_recovery = nullptr;

class SigbusGuard {
 public:
  SigbusGuard() {
    std::lock_guard lock(mutex());
    if (users()++ > 0) return;
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &previous());
  }
  ~SigbusGuard() {
    std::lock_guard lock(mutex());
    if (--users() == 0) ::sigaction(SIGBUS, &previous(), nullptr);
  }
  SigbusGuard(const SigbusGuard&) = delete;
  SigbusGuard& operator=(const SigbusGuard&) = delete;

  // Runs `read`; false if it took a SIGBUS.
  template <class F>
  static bool guarded(F&& read) {
    sigjmp_buf recovery;
    if (sigsetjmp(recovery, 1) != 0) {
      t_sigbus_recovery = nullptr;
      return false;
    }
    t_sigbus_recovery = &recovery;
    read();
    t_sigbus_recovery = nullptr;
    return true;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& users() {
    static int n = 0;
    return n;
  }
  static struct sigaction& previous() {
    static struct sigaction sa {};
    return sa;
  }
  static void on_sigbus(int, siginfo_t*, void*) {
    if (t_sigbus_recovery) siglongjmp(*t_sigbus_recovery, 1);
    // Not a read we guard: put the old disposition back and fault again into it.
    ::sigaction(SIGBUS, &previous(), nullptr);
  }
};

// Threads for checksumming `size` bytes: one below kOverlapFrom, else up to four
// (never more than the CPUs we may run on).
int checksum_threads(size_t size) {
  if (size < kOverlapFrom) return 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::clamp(CPU_COUNT(&set), 1, 4);
}

// Checks a mapped payload against `h` on checksum_threads() threads, each
// checksumming one piece (mapped_crc32c()); the pieces' CRCs are combined.
void check_mapped_payload(const Header& h, const uint8_t* payload, size_t size, const std::string& name) {
  const int threads = checksum_threads(size);
  const size_t piece = (size / static_cast<size_t>(threads) + 4095) / 4096 * 4096;
  std::vector<uint32_t> crcs(static_cast<size_t>(threads), 0);
  std::vector<uint8_t> ok(static_cast<size_t>(threads), 0);
  auto one = [&](int i) {
    size_t from = std::min(size, piece * static_cast<size_t>(i));
    size_t len = std::min(size - from, piece);
    ok[static_cast<size_t>(i)] = mapped_crc32c(payload + from, len, &crcs[static_cast<size_t>(i)]);
  };
  {
    std::vector<std::jthread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(one, i);
    one(0);
  }  // joins
  uint32_t crc = 0;
  for (int i = 0; i < threads; ++i) {
    if (!ok[static_cast<size_t>(i)]) throw ImageError(name, "payload_len", "file shrank while it was read");
    size_t from = std::min(size, piece * static_cast<size_t>(i));
    crc = i == 0 ? crcs[0] : crc32c_combine(crc, crcs[static_cast<size_t>(i)], std::min(size - from, piece));
  }
  if (crc != h.payload_crc) throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

}  // namespace

void PieceCrcs::add(uint64_t offset, uint64_t len, uint32_t crc) {
  std::lock_guard lock(mutex_);
  pieces_.push_back({offset, len, crc});
}

uint32_t PieceCrcs::whole(uint64_t size, std::string* why) {
  std::lock_guard lock(mutex_);
  std::sort(pieces_.begin(), pieces_.end(), [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  uint64_t at = 0;
  uint32_t crc = 0;
  for (const auto& p : pieces_) {
    if (p.offset != at) {
      *why = "a piece at " + std::to_string(p.offset) + " where " + std::to_string(at) + " was expected";
      return 0;
    }
    crc = at == 0 ? p.crc : crc32c_combine(crc, p.crc, p.len);
    at += p.len;
  }
  if (at != size) *why = "the pieces cover " + std::to_string(at) + " of " + std::to_string(size) + " bytes";
  return crc;
}

bool mapped_crc32c(const uint8_t* data, size_t size, uint32_t* crc) {
  if (size == 0) {
    *crc = 0;
    return true;
  }
  // Not populated first (MADV_POPULATE_READ): that marks every page accessed,
  // moving each between LRU lists, which costs more than the faults it saves.
  SigbusGuard guard;
  return SigbusGuard::guarded([&] { *crc = crc32c(data, size); });
}

MappedFile::MappedFile(int fd, size_t size, const std::string& path) : size_(size) {
  if (size == 0) return;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno("mmap " + path);
  data_ = static_cast<uint8_t*>(p);
}

MappedFile::~MappedFile() {
  if (!data_) return;
  // Tearing down the page tables of a large mapping that was read in full (256
  // MiB: 65536 entries, each page marked accessed) takes milliseconds on one
  // CPU; MADV_DONTNEED on pieces runs on several (it needs only the read lock),
  // leaving munmap nothing to do.
  int threads = checksum_threads(size_);
  if (threads > 1) {
    size_t piece = (size_ / static_cast<size_t>(threads) + 4095) / 4096 * 4096;
    std::vector<std::jthread> pool;
    try {
      for (int i = 1; i < threads; ++i)
        pool.emplace_back([this, i, piece] {
          size_t from = std::min(size_, piece * static_cast<size_t>(i));
          ::madvise(data_ + from, std::min(size_ - from, piece), MADV_DONTNEED);
        });
    } catch (...) {
      // No thread: munmap does the rest alone.
    }
    ::madvise(data_, std::min(size_, piece), MADV_DONTNEED);
  }  // joins
  ::munmap(data_, size_);
}

PagesFileWriter::PagesFileWriter(const std::string& dir)
    : dir_(dir), tmp_(dir + "/" + kPagesFile + ".tmp"), path_(dir + "/" + kPagesFile) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  fd_ = take_for_rewrite(path_, size_);
  if (fd_ >= 0) {
    try {
      remove_stale_process_file(dir_);
      if (::rename(path_.c_str(), tmp_.c_str()) != 0) throw_errno("rename " + path_ + " to " + tmp_);
      reused_ = true;
      return;
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
  fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_errno("open " + tmp_);
}

PagesFileWriter::~PagesFileWriter() {
  map_.reset();
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_.c_str());
  drop_replaced();
}

void PagesFileWriter::drop_replaced() {
  if (replaced_ >= 0) ::close(replaced_);
  replaced_ = -1;
}

void PagesFileWriter::put(uint64_t offset, std::span<const uint8_t> bytes) {
  put(offset, bytes, crc32c(bytes.data(), bytes.size()));
}

void PagesFileWriter::put(uint64_t offset, std::span<const uint8_t> bytes, uint32_t crc) {
  uint64_t at = kPageAlignedHeaderSize + offset;
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + tmp_);
    done += static_cast<size_t>(n);
  }
  crcs_.add(offset, bytes.size(), crc);
}

std::shared_ptr<uint8_t> PagesFileWriter::window(uint64_t offset, size_t len) {
  if (!reused_ || len == 0) return nullptr;
  const uint64_t at = kPageAlignedHeaderSize + offset;
  if (at % 4096 != 0) throw EngineError("pages file " + tmp_ + ": window at unaligned offset " + std::to_string(offset));
  {
    std::lock_guard lock(size_mutex_);
    if (at + len > size_) {
      if (::ftruncate(fd_, static_cast<off_t>(at + len)) != 0) throw_errno("ftruncate " + tmp_);
      size_ = at + len;
    }
  }
  // Populated now: one walk over existing pages instead of a fault for each.
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(at));
  if (p == MAP_FAILED) throw_errno("mmap " + tmp_);
  return {static_cast<uint8_t*>(p), [len](uint8_t* q) { ::munmap(q, len); }};
}

void PagesFileWriter::placed(uint64_t offset, const uint8_t* data, size_t len) {
  uint32_t crc = 0;
  if (!mapped_crc32c(data, len, &crc)) throw EngineError("pages file " + tmp_ + ": cut short while it was written");
  crcs_.add(offset, len, crc);
}

PageBytes PagesFileWriter::view(uint64_t offset, uint64_t n) {
  if (n == 0) return {};
  if (!map_) {
    struct stat st;
    if (fstat(fd_, &st) != 0) throw_errno("fstat " + tmp_);
    map_ = std::make_shared<MappedFile>(fd_, static_cast<size_t>(st.st_size), tmp_);
  }
  if (kPageAlignedHeaderSize + offset + n > map_->size())
    throw EngineError("pages file " + tmp_ + ": bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                      " were never written");
  return PageBytes::view(map_, map_->data() + kPageAlignedHeaderSize + offset, n);
}

void PagesFileWriter::finish(uint64_t payload_len) {
  // The pieces must tile the payload: the file is then exactly header + payload.
  std::string why;
  uint32_t crc = crcs_.whole(payload_len, &why);
  if (!why.empty()) throw EngineError("pages file " + tmp_ + ": " + why);
  // A rewritten file may have been longer.
  if (reused_ && ::ftruncate(fd_, static_cast<off_t>(kPageAlignedHeaderSize + payload_len)) != 0)
    throw_errno("ftruncate " + tmp_);
  auto head = padded_header(kPagesMagic, payload_len, crc, kPageAlignedFormatVersion);
  for (size_t done = 0; done < head.size();) {
    ssize_t n = ::pwrite(fd_, head.data() + done, head.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + tmp_);
    done += static_cast<size_t>(n);
  }
  // From here on a reader like any other: a view() of the file may outlive us, and
  // a later dump into this directory must not rewrite what it shows.
  ::flock(fd_, LOCK_SH);
  remove_stale_process_file(dir_);
  replaced_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);  // none: -1, nothing to keep
  struct stat st;
  if (replaced_ >= 0 && fstat(replaced_, &st) == 0) replaced_size_ = static_cast<uint64_t>(st.st_size);
  rename_into_place(tmp_, path_);
  finished_ = true;
}

std::vector<uint8_t> encode_process_file(const pb::Process& process) {
  std::string bytes;
  if (!process.SerializeToString(&bytes)) throw EngineError("serializing process image failed");
  return frame(kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<uint8_t> encode_pages_file(std::span<const uint8_t> pages) { return frame(kPagesMagic, pages); }

namespace {

// The metadata file's payload, parsed; the pages are set by the caller. Returns
// the format version. A tree (version 2) is split into Image.process (the root),
// Image.tree (records without their Process) and Image.descendants.
uint32_t parse_process(std::span<const uint8_t> process_file, const std::string& process_name, Image& image) {
  uint32_t version = 0;
  auto meta = unframe(process_file, kProcessMagic, ImageLimits::kMaxMetadataBytes, process_name, &version);
  if (version == kImageFormatVersion) {
    if (!image.process.ParseFromArray(meta.data(), static_cast<int>(meta.size())))
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
    if (r->zombie() || i == 0) {
      if (i == 0) image.process.Swap(r->mutable_process());
      r->clear_process();
      continue;
    }
    image.descendants.emplace_back();
    image.descendants.back().process.Swap(r->mutable_process());
    r->clear_process();
  }
  return version;
}

// Hands each live process its part of the pages payload (version 2 and 3: the
// root's pages, then every descendant's, each Process.pages_bytes long). Parts
// of a mapped payload are views of it, not copies.
void split_pages(Image& image, const std::string& pages_name) {
  if (image.tree.processes().empty()) return;
  uint64_t offset = image.process.pages_bytes();
  uint64_t total = image.pages.size();
  if (offset > total)
    throw ImageError(pages_name, "payload_len", "holds " + std::to_string(total) + " bytes, fewer than the root's " +
                                                    std::to_string(offset) + " bytes of pages");
  for (auto& d : image.descendants) {
    uint64_t n = d.process.pages_bytes();
    if (n > total - offset)
      throw ImageError(pages_name, "payload_len", "holds " + std::to_string(total) + " bytes, too few for pid " +
                                                      std::to_string(d.process.pid()) + "'s pages");
    d.pages = image.pages.slice(offset, n);
    offset += n;
  }
  if (offset != total)
    throw ImageError(pages_name, "payload_len", std::to_string(total - offset) +
                                                    " bytes beyond the pages of every process in the tree");
  image.pages.resize(image.process.pages_bytes());
}

void check_versions_match(uint32_t process_version, uint32_t pages_version, const std::string& pages_name) {
  if (process_version != pages_version)
    throw ImageError(pages_name, "version", "format version " + std::to_string(pages_version) +
                                                " does not match the process file's version " +
                                                std::to_string(process_version));
}

// The tree process file: the tree records with every live Process put back.
std::string serialize_tree(const Image& image) {
  pb::TreeImage tree = image.tree;
  size_t next = 0;
  for (int i = 0; i < tree.processes_size(); ++i) {
    auto* r = tree.mutable_processes(i);
    if (i == 0) {
      *r->mutable_process() = image.process;
    } else if (!r->zombie()) {
      if (next >= image.descendants.size())
        throw EngineError("encoding the image: the tree lists more live processes than it holds");
      *r->mutable_process() = image.descendants[next++].process;
    }
  }
  if (next != image.descendants.size())
    throw EngineError("encoding the image: the tree lists fewer live processes than it holds");
  std::string bytes;
  if (!tree.SerializeToString(&bytes)) throw EngineError("serializing the tree image failed");
  return bytes;
}

PageBytes all_pages(const Image& image) {
  size_t total = image.pages.size();
  for (const auto& d : image.descendants) total += d.pages.size();
  PageBytes out;
  out.resize(total);
  size_t at = 0;
  auto put = [&](const PageBytes& b) {
    if (!b.empty()) std::memcpy(out.data() + at, b.data(), b.size());
    at += b.size();
  };
  put(image.pages);
  for (const auto& d : image.descendants) put(d.pages);
  return out;
}

}  // namespace

std::pair<std::vector<uint8_t>, std::vector<uint8_t>> encode_image_files(const Image& image) {
  if (image.tree.processes().empty()) return {encode_process_file(image.process), encode_pages_file(image.pages)};
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
  auto pages = unframe(pages_file, kPagesMagic, ImageLimits::kMaxPagesBytes, pages_name, &pages_version);
  check_versions_match(version, pages_version, pages_name);
  image.pages.assign(pages.begin(), pages.end());
  split_pages(image, pages_name);
  validate_image(image, process_name, pages_name);
  return image;
}

void write_process_file(const Image& image, const std::string& dir) {
  if (image.tree.processes().empty()) {
    write_file_atomically(dir + "/" + kProcessFile, encode_process_file(image.process));
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
  if (!image.tree.processes().empty()) {
    // A tree: one pages payload for all of its processes.
    std::vector<std::span<const uint8_t>> parts = {image.pages};
    for (const auto& d : image.descendants) parts.emplace_back(d.pages);
    write_pages_atomically(dir, parts, kPageAlignedFormatVersion);
  } else {
    write_pages_atomically(dir, {image.pages}, kImageFormatVersion);
  }
  write_process_file(image, dir);
}

Image read_image_dir(const std::string& dir, PagesCheck pages_check) {
  std::string process_path = dir + "/" + kProcessFile;
  std::string pages_path = dir + "/" + kPagesFile;
  Image image;
  uint32_t version =
      parse_process(File(process_path, O_RDONLY).read_all(ImageLimits::kMaxMetadataBytes + 64), process_path, image);
  File pages(pages_path, O_RDONLY);
  hold_for_reading(pages.fd(), pages_path);  // while `pages` or a mapping of it lives
  uint64_t size = pages.size();
  uint8_t head[kPageAlignedHeaderSize];
  size_t got = pages.read_at(head, static_cast<size_t>(std::min<uint64_t>(size, sizeof(head))), 0);
  Header h = check_header({head, got}, size, kPagesMagic, ImageLimits::kMaxPagesBytes, pages_path);
  check_versions_match(version, h.version, pages_path);
  if (h.header_size == kPageAlignedHeaderSize && h.payload_len > 0) {
    // Version 3: the pages stay in the page cache; restore copies from the mapping.
    auto map = std::make_shared<MappedFile>(pages.fd(), static_cast<size_t>(h.header_size + h.payload_len), pages_path);
    const uint8_t* payload = map->data() + h.header_size;
    if (pages_check == PagesCheck::kNow)
      check_mapped_payload(h, payload, h.payload_len, pages_path);
    else
      image.unchecked_pages = std::make_shared<UncheckedPages>(UncheckedPages{pages_path, payload, h.payload_len, h.payload_crc});
    image.pages = PageBytes::view(std::move(map), payload, h.payload_len);
  } else {
    // Older versions: read straight into the image's buffer (no second copy).
    image.pages.resize(h.payload_len);
    read_payload_checked(pages, h, image.pages.data(), image.pages.size(), pages_path);
  }
  split_pages(image, pages_path);
  validate_image(image, process_path, pages_path);
  return image;
}

}  // namespace flakelab::engine
