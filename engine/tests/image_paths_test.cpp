// Restore treats the paths of an image as untrusted input (issue 16 point 4;
// engine/README.md, "Threat model"): images edited through the protobuf API, or
// a file system changed between dump and restore, are refused with the path and
// what differed, and leave no process behind. Normal restores still pass.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/victims/mem_victims.h"
#include "flakelab/victims/socket_victims.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

constexpr uint32_t kNobody = 65534;

// The refusal restore_process() throws ("" if it restored: then the test fails).
std::string restore_refusal(const Image& image) {
  try {
    pid_t pid = restore_process(image);
    kill_child(pid);
    return "";
  } catch (const EngineError& e) {
    return e.what();
  }
}

pb::File* file_at(pb::Process& p, const std::string& path) {
  for (auto& f : *p.mutable_files())
    if (f.path() == path) return &f;
  return nullptr;
}

// A file victim whose files anybody may open (directory 0755, data 0666), so that
// only what a test changes decides whether fsuid 65534 may restore it.
struct OpenFileVictim {
  flakelab::base::TempDir tmp{"/tmp", "flk-paths-"};
  ChildPid v;
  OpenFileVictim() {
    EXPECT_EQ(chmod(tmp.path().c_str(), 0755), 0);
    v.pid = start_file_victim(tmp.path());
    EXPECT_EQ(chmod((tmp.path() + "/data").c_str(), 0666), 0);
  }
  std::string data() const { return tmp.path() + "/data"; }
};

void set_fs_identity(Image& image, uint32_t uid, uint32_t gid) {
  auto* id = image.root().process.mutable_fs_identity();
  id->set_fsuid(uid);
  id->set_fsgid(gid);
  id->clear_groups();
}

// A UNIX socket bound to `path` by this test: a live service.
flakelab::base::UniqueFd bind_service(const std::string& path) {
  flakelab::base::UniqueFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path << ": " << strerror(errno);
  EXPECT_EQ(listen(s.get(), 4), 0);
  return s;
}

const pb::UnixSocket* owned_path_socket(const pb::Process& p) {
  for (const auto& s : p.unix_sockets())
    if (s.owns_name() && !s.name().empty() && s.name()[0] == '/') return &s;
  return nullptr;
}

}  // namespace

TEST(ImagePaths, DumpRecordsFsIdentityAndFileIdentity) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  const pb::Process& p = image.root().process;
  ASSERT_TRUE(p.has_fs_identity());
  EXPECT_EQ(p.fs_identity().fsuid(), geteuid());
  pb::File* data = file_at(image.root().process, fv.data());
  ASSERT_NE(data, nullptr);
  struct stat st;
  ASSERT_EQ(stat(fv.data().c_str(), &st), 0);
  EXPECT_EQ(data->dev(), st.st_dev);
  EXPECT_EQ(data->mode(), 0666u);
  EXPECT_EQ(data->inode(), st.st_ino);
}

TEST(ImagePaths, ANonRootFsIdentityStillRestoresFilesItMayOpen) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  set_fs_identity(image, kNobody, kNobody);
  pid_t back = restore_process(image);
  ASSERT_EQ(back, fv.v.pid);
  ASSERT_TRUE(wait_sleeping(back));
  ASSERT_EQ(kill(back, SIGUSR1), 0);
  EXPECT_EQ(exit_code(back), kVictimOk);
  fv.v.pid = -1;
}

TEST(ImagePaths, ARootOnlyFileIsRefusedToANonRootProcess) {
  OpenFileVictim fv;
  const std::string secret = fv.tmp.path() + "/secret";
  { std::ofstream(secret) << "root only"; }
  ASSERT_EQ(chmod(secret.c_str(), 0600), 0);
  struct stat st;
  ASSERT_EQ(stat(secret.c_str(), &st), 0);
  Image image = dump_process(fv.v.pid);
  // Its /dev/null now names the secret, with the secret's own identity: only
  // whose permissions the open uses can stop it.
  pb::File* f = file_at(image.root().process, "/dev/null");
  ASSERT_NE(f, nullptr);
  f->set_kind(pb::FILE_REGULAR);
  f->set_path(secret);
  f->set_flags(O_RDONLY);
  f->set_inode(st.st_ino);
  f->set_dev(st.st_dev);
  f->set_mode(0600);
  f->set_size(static_cast<uint64_t>(st.st_size));
  f->set_rdev(0);
  set_fs_identity(image, kNobody, kNobody);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("open " + secret), std::string::npos) << msg;
  EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
  EXPECT_FALSE(alive(fv.v.pid));
  fv.v.pid = -1;
  // The same image with the dumped (root) identity opens it: the identity decided.
  set_fs_identity(image, 0, 0);
  pid_t back = restore_process(image);
  EXPECT_TRUE(wait_sleeping(back));
  kill_child(back);
}

TEST(ImagePaths, DotDotAndRelativePathsAreRefused) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  pb::File* f = file_at(image.root().process, fv.data());
  ASSERT_NE(f, nullptr);
  const std::string dotdot = fv.tmp.path() + "/../" + std::filesystem::path(fv.tmp.path()).filename().string() + "/data";
  f->set_path(dotdot);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("\"..\" component"), std::string::npos) << msg;
  EXPECT_FALSE(alive(fv.v.pid));
  fv.v.pid = -1;
}

TEST(ImagePaths, ASymlinkToTheDumpedFileIsRefused) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  // The same inode, reached through a symbolic link.
  ASSERT_EQ(rename(fv.data().c_str(), (fv.data() + ".real").c_str()), 0);
  ASSERT_EQ(symlink((fv.data() + ".real").c_str(), fv.data().c_str()), 0);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find(fv.data()), std::string::npos) << msg;
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
  EXPECT_FALSE(alive(fv.v.pid));
  fv.v.pid = -1;
}

TEST(ImagePaths, AFifoWhereAFileWasDumpedFailsFastWithoutReadingIt) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  ASSERT_EQ(unlink(fv.data().c_str()), 0);
  ASSERT_EQ(mkfifo(fv.data().c_str(), 0666), 0);
  auto start = std::chrono::steady_clock::now();
  std::string msg = restore_refusal(image);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(msg.find(fv.data()), std::string::npos) << msg;
  EXPECT_NE(msg.find("it is a FIFO, the image has a regular file"), std::string::npos) << msg;
  EXPECT_FALSE(alive(fv.v.pid));
  fv.v.pid = -1;
}

TEST(ImagePaths, AChangedModeIsRefused) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  ASSERT_EQ(chmod(fv.data().c_str(), 0644), 0);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("mode 0644, the image has 0666"), std::string::npos) << msg;
  fv.v.pid = -1;
}

TEST(ImagePaths, TruncatingFlagsInAnImageAreRefused) {
  OpenFileVictim fv;
  Image image = dump_process(fv.v.pid);
  const std::string before = [&] {
    std::ifstream in(fv.data());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  file_at(image.root().process, fv.data())->set_flags(O_RDWR | O_TRUNC);
  std::string msg = restore_refusal(image);
  // The image check refuses it first (open_image_path() would too: safe_open_test).
  EXPECT_NE(msg.find("files[0].flags: 0x202 has flags restore cannot honour"), std::string::npos) << msg;
  std::ifstream in(fv.data());
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), before);
  fv.v.pid = -1;
}

TEST(ImagePaths, AnExeLinkToAFileTheImageDoesNotRunIsRefused) {
  ChildPid v{start_memory_victim()};
  Image image = dump_process(v.pid);
  const std::string other = access("/usr/bin/passwd", F_OK) == 0 ? "/usr/bin/passwd" : "/usr/bin/env";
  image.root().process.mutable_mm()->set_exe_path(other);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("open exe " + other), std::string::npos) << msg;
  EXPECT_NE(msg.find("maps no executable file"), std::string::npos) << msg;
  EXPECT_FALSE(alive(v.pid));
  v.pid = -1;
}

TEST(ImagePaths, ALiveServiceSocketAtTheBoundPathIsNotTakenOver) {
  flakelab::base::TempDir dir("/tmp", "flk-paths-");
  ChildPid v{flakelab::victims::start_socket_victim(dir.path())};
  Image image = dump_process(v.pid);
  const pb::UnixSocket* s = owned_path_socket(image.root().process);
  ASSERT_NE(s, nullptr);
  const std::string path = s->name();
  // The victim is gone; a service binds the path anew (another inode).
  ASSERT_EQ(unlink(path.c_str()), 0);
  flakelab::base::UniqueFd service = bind_service(path);
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  std::string msg = restore_refusal(image);
  // Another inode ("not the dumped socket's own file"), or the stale inode's
  // number reused by the file system for the service's file ("a live socket").
  EXPECT_NE(msg.find("refused to replace the socket file " + path), std::string::npos) << msg;
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0) << "the service's socket file was removed";
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_FALSE(alive(v.pid));
  v.pid = -1;
}

TEST(ImagePaths, AnImageNamingALiveSocketsInodeIsRefused) {
  flakelab::base::TempDir dir("/tmp", "flk-paths-");
  ChildPid v{flakelab::victims::start_socket_victim(dir.path())};
  Image image = dump_process(v.pid);
  const std::string path = dir.path() + "/service";
  flakelab::base::UniqueFd service = bind_service(path);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  // Crafted: the dumped socket's path and stale inode are the live service's.
  pb::UnixSocket* s = nullptr;
  for (auto& x : *image.root().process.mutable_unix_sockets())
    if (x.owns_name() && !x.name().empty() && x.name()[0] == '/') s = &x;
  ASSERT_NE(s, nullptr);
  s->set_name(path);
  s->set_name_vfs_ino(st.st_ino);
  s->set_name_vfs_dev(st.st_dev);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("a live socket"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is bound to it"), std::string::npos) << msg;
  ASSERT_EQ(stat(path.c_str(), &st), 0) << "the service's socket file was removed";
  v.pid = -1;
}

TEST(ImagePaths, ARegularFileAtTheBoundPathIsRefused) {
  flakelab::base::TempDir dir("/tmp", "flk-paths-");
  ChildPid v{flakelab::victims::start_socket_victim(dir.path())};
  Image image = dump_process(v.pid);
  const pb::UnixSocket* s = owned_path_socket(image.root().process);
  ASSERT_NE(s, nullptr);
  const std::string path = s->name();
  ASSERT_EQ(unlink(path.c_str()), 0);
  { std::ofstream(path) << "not a socket"; }
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find(path + ": it exists and is not a socket file"), std::string::npos) << msg;
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  v.pid = -1;
}

TEST(ImagePaths, ASetUidRootFileInAnImageIsNotMadeForANonRootProcess) {
  flakelab::base::TempDir tmp("/tmp", "flk-paths-");
  ChildPid v{start_unlinked_victim(tmp.path())};
  Image image = dump_process(v.pid);
  ASSERT_GT(image.root().process.saved_files_size(), 0);
  // Crafted: the unlinked file becomes a set-user-ID root program of the image's bytes.
  pb::SavedFile* f = image.root().process.mutable_saved_files(0);
  f->set_uid(0);
  f->set_mode(04755);
  set_fs_identity(image, kNobody, kNobody);
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("refused: set-user-ID file owned by uid 0, its holder's fsuid is 65534"), std::string::npos) << msg;
  EXPECT_FALSE(alive(v.pid));
  v.pid = -1;
}

TEST(ImagePaths, AnUnlinkedFileIsNotRecreatedThroughDotDot) {
  flakelab::base::TempDir tmp("/tmp", "flk-paths-");
  ChildPid v{start_unlinked_victim(tmp.path())};
  Image image = dump_process(v.pid);
  ASSERT_GT(image.root().process.saved_files_size(), 0);
  pb::SavedFile* f = image.root().process.mutable_saved_files(0);
  ASSERT_EQ(f->kind(), pb::SAVED_UNLINKED);
  f->set_path(tmp.path() + "/../etc-like");
  std::string msg = restore_refusal(image);
  EXPECT_NE(msg.find("\"..\" component"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists("/tmp/etc-like"));
  v.pid = -1;
}
