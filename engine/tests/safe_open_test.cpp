// Opening the paths an image names (safe_open.h): shape, links, type, identity,
// flags, and never blocking on a FIFO.
#include "safe_open.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/error.h"

using namespace flakelab::engine;

namespace {

ExpectedFile expect_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  ExpectedFile e;
  e.type = st.st_mode & S_IFMT;
  e.inode = st.st_ino;
  e.dev = st.st_dev;
  e.rdev = st.st_rdev;
  e.mode = st.st_mode & 07777;
  e.mode_recorded = true;
  e.size = static_cast<uint64_t>(st.st_size);
  e.size_recorded = S_ISREG(st.st_mode);
  return e;
}

// The refusal open_image_path() throws, or "" if it opened.
std::string refusal(const std::string& path, int flags, const ExpectedFile& e) {
  try {
    open_image_path(path, flags, e, "test: open");
    return "";
  } catch (const EngineError& err) {
    return err.what();
  }
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(ImagePaths, OnlyAbsoluteNormalisedPathsAreAccepted) {
  for (const char* ok : {"/", "/etc", "/a/b/c", "/a/..b", "/a/b.", "/a/...", "/a b/c"})
    EXPECT_EQ(image_path_problem(ok), "") << ok;
  EXPECT_NE(image_path_problem("").find("empty"), std::string::npos);
  EXPECT_NE(image_path_problem("etc/passwd").find("not an absolute path"), std::string::npos);
  EXPECT_NE(image_path_problem("/tmp/../etc/shadow").find("\"..\" component"), std::string::npos);
  EXPECT_NE(image_path_problem("/..").find("\"..\" component"), std::string::npos);
  EXPECT_NE(image_path_problem("/tmp/./x").find("\".\" component"), std::string::npos);
  EXPECT_NE(image_path_problem("/tmp//x").find("empty component"), std::string::npos);
  EXPECT_NE(image_path_problem("/tmp/x/").find("empty component"), std::string::npos);
  EXPECT_NE(image_path_problem(std::string("/tmp/x\0y", 8)).find("NUL"), std::string::npos);
  EXPECT_NE(image_path_problem("/" + std::string(4095, 'a')).find("4096 bytes long"), std::string::npos);
  EXPECT_EQ(image_path_problem("/" + std::string(4094, 'a')), "");
}

TEST(ImagePaths, TheDumpedFileOpensWithItsFlagsAndBlockingMode) {
  flakelab::base::TempDir tmp("/tmp", "flk-safe-");
  const std::string path = tmp.path() + "/data";
  write_file(path, "0123456789");
  ExpectedFile e = expect_of(path);
  flakelab::base::UniqueFd fd = open_image_path(path, O_RDWR | O_APPEND, e, "test: open");
  int fl = fcntl(fd.get(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
  EXPECT_TRUE(fl & O_APPEND);
  EXPECT_FALSE(fl & O_NONBLOCK) << "O_NONBLOCK is only for the open: the image did not have it";
  EXPECT_TRUE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  fd = open_image_path(path, O_RDONLY | O_NONBLOCK, e, "test: open");
  EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK) << "the image's own O_NONBLOCK stays";
  ExpectedFile dir = expect_of(tmp.path());
  EXPECT_EQ(refusal(tmp.path(), O_RDONLY | O_DIRECTORY, dir), "");
  ExpectedFile null = expect_of("/dev/null");
  EXPECT_EQ(refusal("/dev/null", O_RDWR, null), "");
}

TEST(ImagePaths, SymlinksAnywhereInThePathAreRefused) {
  flakelab::base::TempDir tmp("/tmp", "flk-safe-");
  const std::string real = tmp.path() + "/real";
  write_file(real, "x");
  ExpectedFile e = expect_of(real);
  ASSERT_EQ(symlink(real.c_str(), (tmp.path() + "/link").c_str()), 0);
  std::string msg = refusal(tmp.path() + "/link", O_RDONLY, e);
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
  EXPECT_NE(msg.find(tmp.path() + "/link"), std::string::npos) << msg;
  ASSERT_EQ(symlink(tmp.path().c_str(), (tmp.path() + "/dirlink").c_str()), 0);
  msg = refusal(tmp.path() + "/dirlink/real", O_RDONLY, e);
  EXPECT_NE(msg.find("symbolic link"), std::string::npos) << msg;
  // /proc/PID/exe-style magic links too (/proc/self itself is a symlink).
  const std::string magic = "/proc/" + std::to_string(getpid()) + "/exe";
  ExpectedFile exe = expect_of("/proc/self/exe");
  exe.type = S_IFREG;
  msg = refusal(magic, O_RDONLY, exe);
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
  msg = refusal(tmp.path() + "/../" + tmp.path().substr(5) + "/real", O_RDONLY, e);
  EXPECT_NE(msg.find("\"..\" component"), std::string::npos) << msg;
}

TEST(ImagePaths, AFifoWhereAFileWasDumpedIsRefusedWithoutBlocking) {
  flakelab::base::TempDir tmp("/tmp", "flk-safe-");
  const std::string path = tmp.path() + "/data";
  write_file(path, "x");
  ExpectedFile e = expect_of(path);
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  for (int flags : {O_RDONLY, O_WRONLY, O_RDWR}) {
    std::string msg = refusal(path, flags, e);
    EXPECT_NE(msg.find("it is a FIFO, the image has a regular file"), std::string::npos) << msg;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // A FIFO the image names as one opens write-only at once when nobody reads:
  // ENXIO, an error, not a hang.
  ExpectedFile fifo = expect_of(path);
  std::string msg = refusal(path, O_WRONLY, fifo);
  EXPECT_NE(msg.find("No such device or address"), std::string::npos) << msg;
}

TEST(ImagePaths, IdentityMismatchesNameWhatDiffered) {
  flakelab::base::TempDir tmp("/tmp", "flk-safe-");
  const std::string path = tmp.path() + "/data";
  write_file(path, "0123456789");
  ExpectedFile e = expect_of(path);
  ExpectedFile other = e;
  other.inode += 1;
  EXPECT_NE(refusal(path, O_RDONLY, other).find("inode " + std::to_string(e.inode) + ", the image has " +
                                                std::to_string(e.inode + 1)),
            std::string::npos);
  other = e;
  other.dev += 1;
  EXPECT_NE(refusal(path, O_RDONLY, other).find("device "), std::string::npos);
  other = e;
  other.mode = 0644 ^ 0004;
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_NE(refusal(path, O_RDONLY, other).find("mode 0644, the image has 0640"), std::string::npos);
  other = expect_of(path);
  other.size = 3;
  EXPECT_NE(refusal(path, O_RDONLY, other).find("size 10, the image has 3"), std::string::npos);
  other.size_recorded = false;
  EXPECT_EQ(refusal(path, O_RDONLY, other), "");
  ExpectedFile null = expect_of("/dev/null");
  null.rdev = makedev(1, 5);  // /dev/zero's number
  EXPECT_NE(refusal("/dev/null", O_RDONLY, null).find("device number"), std::string::npos);
  ExpectedFile as_dir = expect_of(path);
  as_dir.type = S_IFDIR;
  EXPECT_NE(refusal(path, O_RDONLY, as_dir).find("it is a regular file, the image has a directory"), std::string::npos);
}

TEST(ImagePaths, CreatingOrTruncatingFlagsAreRefusedAndTheFileIsUntouched) {
  flakelab::base::TempDir tmp("/tmp", "flk-safe-");
  const std::string path = tmp.path() + "/data";
  write_file(path, "keep me");
  ExpectedFile e = expect_of(path);
  e.size_recorded = false;
  for (int flags : {O_WRONLY | O_TRUNC, O_RDWR | O_CREAT, O_WRONLY | O_CREAT | O_EXCL, O_PATH}) {
    std::string msg = refusal(path, flags, e);
    EXPECT_NE(msg.find("refused: the image asks for open flags"), std::string::npos) << msg;
  }
  EXPECT_EQ(read_all(path), "keep me");
}
