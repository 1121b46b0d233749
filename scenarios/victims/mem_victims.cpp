#include "flakelab/victims/mem_victims.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/victims/victims.h"

namespace flakelab::victims {
namespace {

constexpr size_t kPage = 4096;

volatile sig_atomic_t g_wake = 0;
void on_usr1(int) { g_wake = 1; }

uint8_t pattern(size_t salt, size_t i) { return static_cast<uint8_t>(salt * 13 + i * 7 + (i >> 12) + 1); }
void fill(uint8_t* p, size_t n, size_t salt) {
  for (size_t i = 0; i < n; ++i) p[i] = pattern(salt, i);
}
bool check(const uint8_t* p, size_t n, size_t salt) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != pattern(salt, i)) return false;
  return true;
}
bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

// Keeps only `keep` (and the ready fd), installs the SIGUSR1 handler, reports
// ready and sleeps until SIGUSR1.
void settle_and_wait(int ready_fd, const std::vector<int>& keep) {
  for (int fd = 0; fd < 64; ++fd) {
    bool wanted = fd == ready_fd;
    for (int k : keep) wanted |= fd == k;
    if (!wanted) close(fd);
  }
  syscall(SYS_close_range, 64, ~0u, 0);
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();
}

std::string fd_link(int fd) {
  char buf[4096];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// Status flags without the kernel's O_LARGEFILE, which glibc does not define on x86-64.
int fl(int fd) { return fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK | O_APPEND); }

bool pread_all(int fd, void* buf, size_t n, off_t off) { return pread(fd, buf, n, off) == static_cast<ssize_t>(n); }

bool dir_is_empty(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (dirent* e = readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
  closedir(d);
  return empty;
}

// ---- unlinked files -------------------------------------------------------

[[noreturn]] void unlinked_victim(int ready_fd, const std::string& dir) {
  umask(0);
  std::string path = dir + "/unlinked", path2 = dir + "/mapped-only";
  int a = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0640);
  if (a < 0) _exit(100);
  std::vector<uint8_t> head(kUnlinkedHead), tail(kUnlinkedTail);
  fill(head.data(), head.size(), 1);
  fill(tail.data(), tail.size(), 2);
  if (pwrite(a, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()) ||
      pwrite(a, tail.data(), tail.size(), kUnlinkedTailOffset) != static_cast<ssize_t>(tail.size()))
    _exit(100);
  int b = dup(a);
  int c = open(path.c_str(), O_WRONLY | O_APPEND);
  int d = open(path.c_str(), O_RDONLY);
  if (b < 0 || c < 0 || d < 0 || lseek(a, 7, SEEK_SET) != 7 || lseek(d, kUnlinkedTailOffset + 50, SEEK_SET) < 0) _exit(100);
  auto* shared = static_cast<uint8_t*>(mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0));
  auto* priv = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, a, 0));
  // From the read-only fd: can never be made writable.
  auto* ro = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, d, 0));
  if (shared == MAP_FAILED || priv == MAP_FAILED || ro == MAP_FAILED) _exit(100);
  std::memcpy(shared + 100, "shared-write", 12);  // into the file
  std::memcpy(priv + 200, "private-cow", 11);     // a private copy only
  std::memcpy(head.data() + 100, "shared-write", 12);
  int m = open(path2.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (m < 0 || ftruncate(m, 2 * kPage) != 0) _exit(100);
  auto* only = static_cast<uint8_t*>(mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0));
  if (only == MAP_FAILED) _exit(100);
  fill(only, 2 * kPage, 3);
  close(m);
  if (unlink(path.c_str()) != 0 || unlink(path2.c_str()) != 0) _exit(100);
  settle_and_wait(ready_fd, {a, b, c, d});

  int bad = 0;
  if (access(path.c_str(), F_OK) == 0 || access(path2.c_str(), F_OK) == 0 || !dir_is_empty(dir))
    bad |= kUnlinkedBadVisible;
  struct stat st[4];
  int fds[4] = {a, b, c, d};
  for (int i = 0; i < 4; ++i)
    if (fstat(fds[i], &st[i]) != 0) _exit(102);
  const size_t size = kUnlinkedTailOffset + kUnlinkedTail;
  if (st[0].st_nlink != 0 || !S_ISREG(st[0].st_mode) || fd_link(a) != path + " (deleted)") bad |= kUnlinkedBadVisible;
  if ((st[0].st_mode & 07777) != 0640) bad |= kUnlinkedBadMode;
  if (st[0].st_size != static_cast<off_t>(size) || st[2].st_ino != st[0].st_ino || st[3].st_ino != st[0].st_ino)
    bad |= kUnlinkedBadContent;
  std::vector<uint8_t> got(size);
  if (!pread_all(d, got.data(), size, 0) || std::memcmp(got.data(), head.data(), head.size()) != 0 ||
      !all_zero(got.data() + head.size(), kUnlinkedTailOffset - head.size()) ||
      std::memcmp(got.data() + kUnlinkedTailOffset, tail.data(), tail.size()) != 0)
    bad |= kUnlinkedBadContent;
  // Offsets: a and b share one description, d has its own.
  if (lseek(a, 0, SEEK_CUR) != 7 || lseek(b, 0, SEEK_CUR) != 7 ||
      lseek(d, 0, SEEK_CUR) != static_cast<off_t>(kUnlinkedTailOffset + 50))
    bad |= kUnlinkedBadOffset;
  if (lseek(a, 11, SEEK_SET) != 11 || lseek(b, 0, SEEK_CUR) != 11 ||
      lseek(d, 0, SEEK_CUR) != static_cast<off_t>(kUnlinkedTailOffset + 50))
    bad |= kUnlinkedBadOffset;
  if (fl(a) != O_RDWR ||
      fl(c) != (O_WRONLY | O_APPEND) ||
      fl(d) != O_RDONLY)
    bad |= kUnlinkedBadFlags;
  // The mappings: the shared one is the file, the private one kept its copy.
  if (std::memcmp(shared, head.data(), head.size()) != 0 || !all_zero(shared + head.size(), 2 * kPage - head.size()))
    bad |= kUnlinkedBadMapping;
  if (std::memcmp(priv + 200, "private-cow", 11) != 0 || std::memcmp(priv, head.data(), 200) != 0 ||
      std::memcmp(priv + 211, head.data() + 211, head.size() - 211) != 0)
    bad |= kUnlinkedBadMapping;
  if (!check(only, 2 * kPage, 3)) bad |= kUnlinkedBadMapping;
  if (std::memcmp(ro, head.data(), head.size()) != 0 || mprotect(ro, kPage, PROT_READ | PROT_WRITE) != -1 || errno != EACCES)
    bad |= kUnlinkedBadMapping;
  // Further writes: through an fd into the shared mapping, appends at the end,
  // and still nothing in the directory.
  if (write(b, "X", 1) != 1 || shared[11] != 'X') bad |= kUnlinkedBadWrites;
  shared[kPage + 1] = 'Y';
  char ch = 0;
  if (pread(d, &ch, 1, kPage + 1) != 1 || ch != 'Y') bad |= kUnlinkedBadWrites;
  char app[8] = {};
  if (write(c, "appended", 8) != 8 || pread(a, app, 8, static_cast<off_t>(size)) != 8 || std::memcmp(app, "appended", 8) != 0)
    bad |= kUnlinkedBadWrites;
  if (!dir_is_empty(dir)) bad |= kUnlinkedBadVisible;
  _exit(bad);
}

// ---- FIFOs and one-ended pipes ----------------------------------------------

bool read_exactly(int fd, const std::string& want) {
  std::string got(want.size() + 1, '\0');
  ssize_t n = read(fd, got.data(), got.size());
  return n == static_cast<ssize_t>(want.size()) && got.compare(0, want.size(), want) == 0;
}

[[noreturn]] void fifo_victim(int ready_fd, const std::string& dir) {
  signal(SIGPIPE, SIG_IGN);
  std::string f1 = dir + "/fifo1", f2 = dir + "/fifo2", f3 = dir + "/fifo3", f4 = dir + "/fifo4";
  for (const auto& f : {f1, f2, f3, f4})
    if (mkfifo(f.c_str(), 0600) != 0) _exit(100);
  int r1 = open(f1.c_str(), O_RDONLY | O_NONBLOCK);
  int w1 = open(f1.c_str(), O_WRONLY);
  if (r1 < 0 || w1 < 0 || fcntl(w1, F_SETPIPE_SZ, 128 * 1024) < 128 * 1024) _exit(100);
  std::vector<uint8_t> data(kFifoBytes);
  fill(data.data(), data.size(), 4);
  if (write(w1, data.data(), data.size()) != static_cast<ssize_t>(data.size())) _exit(100);
  int rw2 = open(f2.c_str(), O_RDWR | O_NONBLOCK);
  if (rw2 < 0 || write(rw2, "rdwr-data", 9) != 9) _exit(100);
  int r3 = open(f3.c_str(), O_RDONLY | O_NONBLOCK);
  int w3 = open(f3.c_str(), O_WRONLY);
  if (r3 < 0 || w3 < 0 || write(w3, "orphan-bytes", 12) != 12) _exit(100);
  close(w3);
  int r4 = open(f4.c_str(), O_RDONLY | O_NONBLOCK);
  int w4 = open(f4.c_str(), O_WRONLY | O_NONBLOCK);
  if (r4 < 0 || w4 < 0 || write(w4, "stranded", 8) != 8) _exit(100);
  close(r4);
  int p5[2], p6[2];
  if (pipe2(p5, O_NONBLOCK) != 0 || pipe(p6) != 0) _exit(100);
  if (write(p5[1], "one-ended", 9) != 9 || write(p6[1], "lost reader", 11) != 11) _exit(100);
  close(p5[1]);
  close(p6[0]);
  settle_and_wait(ready_fd, {r1, w1, rw2, r3, w4, p5[0], p6[1]});

  int bad = 0;
  if (fd_link(r1) != f1 || fd_link(w1) != f1 || fd_link(rw2) != f2 || fd_link(r3) != f3 || fd_link(w4) != f4)
    bad |= kFifoBadPath;
  if (fl(r1) != (O_RDONLY | O_NONBLOCK) || fl(w1) != O_WRONLY ||
      fl(rw2) != (O_RDWR | O_NONBLOCK) || fl(r3) != (O_RDONLY | O_NONBLOCK) ||
      fl(w4) != (O_WRONLY | O_NONBLOCK) || fl(p6[1]) != O_WRONLY)
    bad |= kFifoBadFlags;
  if (fcntl(r1, F_GETPIPE_SZ) != 128 * 1024) bad |= kFifoBadCapacity;
  std::vector<uint8_t> got(kFifoBytes + 1);
  size_t n = 0;
  for (;;) {
    ssize_t k = read(r1, got.data() + n, got.size() - n);
    if (k <= 0) break;
    n += static_cast<size_t>(k);
  }
  if (n != kFifoBytes || std::memcmp(got.data(), data.data(), kFifoBytes) != 0) bad |= kFifoBadData;
  char c;
  if (read(r1, &c, 1) != -1 || errno != EAGAIN) bad |= kFifoBadUse;  // its writer is there, just quiet
  if (!read_exactly(rw2, "rdwr-data")) bad |= kFifoBadData;
  if (!read_exactly(r3, "orphan-bytes")) bad |= kFifoBadData;
  if (read(r3, &c, 1) != 0) bad |= kFifoBadOneEnded;  // EOF: no writer left
  if (write(w4, "x", 1) != -1 || errno != EPIPE) bad |= kFifoBadOneEnded;  // no reader left
  int r4again = open(f4.c_str(), O_RDONLY | O_NONBLOCK);
  if (r4again < 0 || !read_exactly(r4again, "stranded")) bad |= kFifoBadData;
  if (!read_exactly(p5[0], "one-ended") || read(p5[0], &c, 1) != 0) bad |= kFifoBadOneEnded;
  if (write(p6[1], "x", 1) != -1 || errno != EPIPE) bad |= kFifoBadOneEnded;
  int r6 = open(("/proc/self/fd/" + std::to_string(p6[1])).c_str(), O_RDONLY | O_NONBLOCK);
  if (r6 < 0 || !read_exactly(r6, "lost reader")) bad |= kFifoBadOneEnded;
  // Still FIFOs that carry data.
  if (write(w1, "again", 5) != 5 || !read_exactly(r1, "again")) bad |= kFifoBadUse;
  if (write(rw2, "more", 4) != 4 || !read_exactly(rw2, "more")) bad |= kFifoBadUse;
  int w3again = open(f3.c_str(), O_WRONLY | O_NONBLOCK);
  if (w3again < 0 || write(w3again, "new", 3) != 3 || !read_exactly(r3, "new")) bad |= kFifoBadUse;
  if (write(w4, "fresh", 5) != 5 || !read_exactly(r4again, "fresh")) bad |= kFifoBadUse;
  _exit(bad);
}

// ---- shared anonymous memory and memfds -------------------------------------

constexpr size_t kAnonPages = 16;
constexpr size_t kSparseBytes = 256 << 20;
constexpr size_t kSparsePages[kShmemSparseTouched] = {0, 30000, kSparseBytes / kPage - 1};
constexpr size_t kMemfdPages = 10;
constexpr int kMemfdSeals = F_SEAL_SHRINK | F_SEAL_GROW;

void* map(size_t len, int prot, int flags, int fd, off_t off) {
  void* p = mmap(nullptr, len, prot, flags, fd, off);
  if (p == MAP_FAILED) _exit(100);
  return p;
}

[[noreturn]] void shmem_victim(int ready_fd) {
  // Shared anonymous memory, one object seen at three addresses.
  auto* a = static_cast<uint8_t*>(map(kAnonPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  for (size_t pg : {0, 3, 15}) fill(a + pg * kPage, kPage, 10 + pg);
  void* b_raw = mremap(a, 0, kAnonPages * kPage, MREMAP_MAYMOVE);
  void* c_raw = mremap(a + 4 * kPage, 0, 8 * kPage, MREMAP_MAYMOVE);
  if (b_raw == MAP_FAILED || c_raw == MAP_FAILED) _exit(100);
  auto* b = static_cast<uint8_t*>(b_raw);
  auto* c = static_cast<uint8_t*>(c_raw);
  auto* sparse =
      static_cast<uint8_t*>(map(kSparseBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  for (size_t pg : kSparsePages) fill(sparse + pg * kPage, kPage, 20 + pg);

  int m = memfd_create("flk-memfd", MFD_ALLOW_SEALING);
  if (m < 0 || ftruncate(m, kMemfdPages * kPage) != 0) _exit(100);
  std::vector<uint8_t> head(3 * kPage);
  fill(head.data(), head.size(), 30);
  if (write(m, head.data(), head.size()) != static_cast<ssize_t>(head.size()) || lseek(m, 5000, SEEK_SET) != 5000) _exit(100);
  auto* m1 = static_cast<uint8_t*>(map(kMemfdPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0));
  auto* m2 = static_cast<uint8_t*>(map(4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, m, 2 * kPage));
  fill(m1 + 5 * kPage, kPage, 35);
  if (fcntl(m, F_ADD_SEALS, kMemfdSeals) != 0) _exit(100);

  int n = memfd_create("flk-private", 0);
  if (n < 0 || ftruncate(n, 2 * kPage) != 0) _exit(100);
  auto* np = static_cast<uint8_t*>(map(2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, n, 0));
  fill(np, 2 * kPage, 40);
  munmap(np, 2 * kPage);
  auto* priv = static_cast<uint8_t*>(map(2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, n, 0));
  std::memcpy(priv + 10, "cow-change", 10);

  int f = memfd_create("flk-future", MFD_ALLOW_SEALING);
  if (f < 0 || ftruncate(f, kPage) != 0) _exit(100);
  auto* fw = static_cast<uint8_t*>(map(kPage, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0));
  fill(fw, kPage, 50);
  if (fcntl(f, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) _exit(100);

  int w = memfd_create("flk-sealed-write", MFD_ALLOW_SEALING);
  if (w < 0 || ftruncate(w, kPage) != 0) _exit(100);
  std::vector<uint8_t> wdata(kPage);
  fill(wdata.data(), kPage, 60);
  if (pwrite(w, wdata.data(), kPage, 0) != static_cast<ssize_t>(kPage) || fcntl(w, F_ADD_SEALS, F_SEAL_WRITE) != 0)
    _exit(100);
  auto* ro = static_cast<uint8_t*>(map(kPage, PROT_READ, MAP_SHARED, w, 0));
  close(w);
  settle_and_wait(ready_fd, {m, n, f});

  int bad = 0;
  for (size_t pg = 0; pg < kAnonPages; ++pg) {
    bool touched = pg == 0 || pg == 3 || pg == 15;
    if (touched ? !check(a + pg * kPage, kPage, 10 + pg) : !all_zero(a + pg * kPage, kPage)) bad |= kShmemBadAnon;
  }
  if (std::memcmp(a, b, kAnonPages * kPage) != 0 || std::memcmp(a + 4 * kPage, c, 8 * kPage) != 0) bad |= kShmemBadAnon;
  a[1] = 0x5a;
  c[2 * kPage + 7] = 0x6b;  // page 6 of the object
  b[9 * kPage] = 0x7c;
  if (b[1] != 0x5a || a[6 * kPage + 7] != 0x6b || b[6 * kPage + 7] != 0x6b || a[9 * kPage] != 0x7c || c[5 * kPage] != 0x7c)
    bad |= kShmemBadAnonShared;
  for (size_t pg : kSparsePages)
    if (!check(sparse + pg * kPage, kPage, 20 + pg)) bad |= kShmemBadSparse;
  if (!all_zero(sparse + kPage, kPage) || !all_zero(sparse + 40000 * kPage, kPage)) bad |= kShmemBadSparse;

  struct stat st;
  if (fd_link(m) != "/memfd:flk-memfd (deleted)" || fstat(m, &st) != 0 ||
      st.st_size != static_cast<off_t>(kMemfdPages * kPage) || lseek(m, 0, SEEK_CUR) != 5000)
    bad |= kShmemBadMemfd;
  std::vector<uint8_t> got(kMemfdPages * kPage);
  if (!pread_all(m, got.data(), got.size(), 0) || std::memcmp(got.data(), head.data(), head.size()) != 0 ||
      !all_zero(got.data() + head.size(), 2 * kPage) || !check(got.data() + 5 * kPage, kPage, 35) ||
      !all_zero(got.data() + 6 * kPage, 4 * kPage))
    bad |= kShmemBadMemfd;
  if (std::memcmp(m1, got.data(), got.size()) != 0 || std::memcmp(m2, got.data() + 2 * kPage, 4 * kPage) != 0)
    bad |= kShmemBadMemfd;
  m1[2 * kPage + 3] = 0x11;
  m2[3 * kPage + 4] = 0x22;  // page 5 of the memfd
  char ch[2] = {};
  if (m2[3] != 0x11 || m1[5 * kPage + 4] != 0x22 || pwrite(m, "Z", 1, 9 * kPage) != 1 || m1[9 * kPage] != 'Z' ||
      pread(m, ch, 1, 5 * kPage + 4) != 1 || ch[0] != 0x22)
    bad |= kShmemBadMemfdShared;
  if (fcntl(m, F_GET_SEALS) != kMemfdSeals || ftruncate(m, kPage) != -1 || errno != EPERM) bad |= kShmemBadSeals;

  std::vector<uint8_t> orig(2 * kPage);
  fill(orig.data(), orig.size(), 40);
  std::vector<uint8_t> ngot(2 * kPage);
  if (fd_link(n) != "/memfd:flk-private (deleted)" || fcntl(n, F_GET_SEALS) != F_SEAL_SEAL ||
      !pread_all(n, ngot.data(), ngot.size(), 0) || ngot != orig)
    bad |= kShmemBadPrivate;
  if (std::memcmp(priv + 10, "cow-change", 10) != 0 || std::memcmp(priv, orig.data(), 10) != 0 ||
      std::memcmp(priv + 20, orig.data() + 20, orig.size() - 20) != 0)
    bad |= kShmemBadPrivate;

  if (fcntl(f, F_GET_SEALS) != (F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) || !check(fw, kPage, 50)) bad |= kShmemBadSeals;
  fw[0] = 0x33;  // the mapping from before the seal still writes
  if (pread(f, ch, 1, 0) != 1 || ch[0] != 0x33 || pwrite(f, "x", 1, 0) != -1 || errno != EPERM ||
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0) != MAP_FAILED || errno != EPERM)
    bad |= kShmemBadSeals;
  if (!check(ro, kPage, 60) || mprotect(ro, kPage, PROT_READ | PROT_WRITE) == 0) bad |= kShmemBadSeals;
  _exit(bad);
}

}  // namespace

pid_t start_unlinked_victim(const std::string& dir) {
  return start_victim("unlinked-file victim", [&](int ready) { unlinked_victim(ready, dir); });
}

pid_t start_fifo_victim(const std::string& dir) {
  return start_victim("FIFO victim", [&](int ready) { fifo_victim(ready, dir); });
}

pid_t start_shmem_victim() {
  return start_victim("shared-memory victim", [](int ready) { shmem_victim(ready); });
}

}  // namespace flakelab::victims
