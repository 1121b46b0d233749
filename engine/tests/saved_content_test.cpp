// Dump/restore of unlinked files, FIFOs, one-ended pipes, shared anonymous memory
// and memfds: the victims (mem_victims.h) check contents themselves.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/victims/mem_victims.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t stored_bytes(const pb::SavedFile& f) {
  uint64_t n = 0;
  for (const auto& r : f.data()) n += r.data().size();
  return n;
}

const pb::SavedFile* saved_by_path(const pb::Process& p, pb::SavedFileKind kind, const std::string& path) {
  for (const auto& f : p.saved_files())
    if (f.kind() == kind && f.path() == path) return &f;
  return nullptr;
}

int count_files(const pb::Process& p, pb::FileKind kind) {
  int n = 0;
  for (const auto& f : p.files()) n += f.kind() == kind;
  return n;
}

// Forks a child that closes every fd, runs `setup` (its fds start at 0), reports
// and sleeps in pause(). Returns once it sleeps; -1 if it did not get there.
template <typename Fn>
pid_t fork_paused(Fn setup) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int ready = fcntl(fds[1], F_DUPFD, 500);
    syscall(SYS_close_range, 0, 499, 0);
    if (!setup()) _exit(1);
    if (write(ready, "r", 1) != 1) _exit(1);
    close(ready);
    for (;;) pause();
  }
  close(fds[1]);
  char c;
  bool ok = pid > 0 && read(fds[0], &c, 1) == 1 && wait_sleeping(pid);
  close(fds[0]);
  if (!ok) kill_child(pid);
  return ok ? pid : -1;
}

// Runs dump, which must fail, and returns its message; the victim must be intact.
std::string refusal(pid_t pid) {
  std::string msg;
  try {
    dump_process(pid);
    ADD_FAILURE() << "dump succeeded";
  } catch (const EngineError& e) {
    msg = e.what();
  }
  EXPECT_TRUE(alive(pid));
  EXPECT_TRUE(wait_sleeping(pid));
  EXPECT_EQ(proc_status_field(pid, "TracerPid"), "0");
  return msg;
}

}  // namespace

TEST(SavedFiles, UnlinkedFilesKeepContentsOffsetsAndStayUnlinked) {
  flakelab::base::TempDir tmp("/tmp", "flk-unlinked-");
  const std::string& dir = tmp.path();
  ChildPid v{start_unlinked_victim(dir)};
  std::vector<int> fds = fd_numbers(v.pid);
  std::string maps_before = maps_summary(v.pid);
  ASSERT_TRUE(dir_entries(dir).empty());
  Image image = dump_process(v.pid);
  const pb::Process& p = image.root().process;
  ASSERT_EQ(p.saved_files_size(), 2);
  const auto* f = saved_by_path(p, pb::SAVED_UNLINKED, dir + "/unlinked");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size(), kUnlinkedTailOffset + kUnlinkedTail);
  EXPECT_EQ(f->mode(), 0640u);
  // The megabyte hole is not stored.
  EXPECT_GE(stored_bytes(*f), kUnlinkedHead + kUnlinkedTail);
  EXPECT_LT(stored_bytes(*f), 64u * 1024);
  EXPECT_NE(saved_by_path(p, pb::SAVED_UNLINKED, dir + "/mapped-only"), nullptr);
  EXPECT_EQ(count_files(p, pb::FILE_SAVED), 3) << "the dup()ed fd shares its description";
  int shared = 0, priv = 0;
  for (const auto& vma : p.vmas()) {
    shared += vma.kind() == pb::VMA_SAVED_SHARED;
    priv += vma.kind() == pb::VMA_FILE_PRIVATE && vma.saved_file() == f->id();
  }
  EXPECT_EQ(shared, 3);
  EXPECT_EQ(priv, 1);
  EXPECT_NE(show_image_text(image).find("SAVED_UNLINKED " + dir + "/unlinked size"), std::string::npos)
      << show_image_text(image);

  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_sleeping(restored));
  EXPECT_EQ(fd_numbers(restored), fds);
  EXPECT_EQ(maps_summary(restored), maps_before);
  EXPECT_TRUE(dir_entries(dir).empty()) << "restore left a name in the directory";
  ASSERT_EQ(kill(restored, SIGUSR1), 0);
  EXPECT_EQ(exit_code(restored), kVictimOk);
  v.pid = -1;
  EXPECT_TRUE(dir_entries(dir).empty());
}

TEST(SavedFiles, LeaveRunningKeepsUnlinkedFilesAndOffsets) {
  flakelab::base::TempDir tmp("/tmp", "flk-unlinked-");
  ChildPid v{start_unlinked_victim(tmp.path())};
  Image image = dump_process(v.pid, DumpOptions{.leave_running = true});
  EXPECT_EQ(image.root().process.saved_files_size(), 2);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(SavedFiles, TooLargeUnlinkedFileIsRefusedBeforeTouchingTheProcess) {
  flakelab::base::TempDir tmp("/tmp", "flk-unlinked-");
  std::string path = tmp.path() + "/big";
  ChildPid v{fork_paused([&] {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    std::vector<char> chunk(1 << 20, 'x');
    for (int i = 0; i < 65; ++i)
      if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return false;
    return write(fd, "!", 1) == 1 && unlink(path.c_str()) == 0;
  })};
  ASSERT_GT(v.pid, 0);
  std::string msg = refusal(v.pid);
  EXPECT_NE(msg.find("pid " + std::to_string(v.pid) + " fd 0 (" + path + " (deleted))"), std::string::npos) << msg;
  EXPECT_NE(msg.find("more than 64 MiB"), std::string::npos) << msg;
}

TEST(SavedFiles, SharedAnonymousMemoryAndMemfdsStayShared) {
  ChildPid v{start_shmem_victim()};
  std::vector<int> fds = fd_numbers(v.pid);
  std::string maps_before = maps_summary(v.pid);
  Image image = dump_process(v.pid);
  const pb::Process& p = image.root().process;
  // One object per shmem inode, however many mappings and fds refer to it.
  EXPECT_EQ(p.saved_files_size(), 6);
  int anon = 0;
  for (const auto& f : p.saved_files()) {
    if (f.kind() != pb::SAVED_SHARED_ANON) continue;
    ++anon;
    EXPECT_EQ(stored_bytes(f), 3u * 4096) << "only written pages are stored (size " << f.size() << ")";
  }
  EXPECT_EQ(anon, 2);
  const auto* m = saved_by_path(p, pb::SAVED_MEMFD, "flk-memfd");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->size(), 10u * 4096);
  EXPECT_EQ(stored_bytes(*m), 4u * 4096);
  EXPECT_EQ(m->seals(), static_cast<uint32_t>(F_SEAL_SHRINK | F_SEAL_GROW));
  const auto* n = saved_by_path(p, pb::SAVED_MEMFD, "flk-private");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->seals(), static_cast<uint32_t>(F_SEAL_SEAL));
  int shared = 0;
  for (const auto& vma : p.vmas()) shared += vma.kind() == pb::VMA_SAVED_SHARED;
  EXPECT_EQ(shared, 8);
  EXPECT_EQ(count_files(p, pb::FILE_SAVED), 3);

  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_sleeping(restored));
  EXPECT_EQ(fd_numbers(restored), fds);
  EXPECT_EQ(maps_summary(restored), maps_before) << "names (/dev/zero, /memfd:...) and layout must come back";
  ASSERT_EQ(kill(restored, SIGUSR1), 0);
  EXPECT_EQ(exit_code(restored), kVictimOk);
  v.pid = -1;
}

TEST(SavedFiles, SharedMemorySurvivesRepeatedCyclesThroughImageDirectories) {
  ChildPid v{start_shmem_victim()};
  std::string maps_before = maps_summary(v.pid);
  flakelab::base::TempDir tmp("/tmp", "flk-shmem-");
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    write_image_dir(dump_process(v.pid), tmp.path());
    pid_t restored = restore_process(read_image_dir(tmp.path()));
    ASSERT_EQ(restored, v.pid);
    ASSERT_TRUE(wait_sleeping(restored));
    ASSERT_EQ(maps_summary(restored), maps_before);
  }
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(SavedFiles, LeaveRunningKeepsSharedMemoryIntact) {
  ChildPid v{start_shmem_victim()};
  Image image = dump_process(v.pid, DumpOptions{.leave_running = true});
  EXPECT_EQ(image.root().process.saved_files_size(), 6);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Fifos, FifosAndOneEndedPipesKeepTheirBytesOrderAndFlags) {
  flakelab::base::TempDir tmp("/tmp", "flk-fifo-");
  ChildPid v{start_fifo_victim(tmp.path())};
  std::vector<int> fds = fd_numbers(v.pid);
  Image image = dump_process(v.pid);
  const pb::Process& p = image.root().process;
  ASSERT_EQ(p.fifos_size(), 4);
  EXPECT_EQ(p.fifos(0).data().size(), kFifoBytes);
  EXPECT_EQ(p.fifos(0).capacity(), 128u * 1024);
  EXPECT_EQ(count_files(p, pb::FILE_FIFO), 5);
  ASSERT_EQ(p.pipes_size(), 2);
  EXPECT_EQ(count_files(p, pb::FILE_PIPE), 2) << "one end of each pipe";
  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_sleeping(restored));
  EXPECT_EQ(fd_numbers(restored), fds);
  ASSERT_EQ(kill(restored, SIGUSR1), 0);
  EXPECT_EQ(exit_code(restored), kVictimOk);
  v.pid = -1;
}

TEST(Fifos, LeaveRunningDoesNotConsumeFifoOrPipeData) {
  flakelab::base::TempDir tmp("/tmp", "flk-fifo-");
  ChildPid v{start_fifo_victim(tmp.path())};
  Image image = dump_process(v.pid, DumpOptions{.leave_running = true});
  ASSERT_EQ(image.root().process.fifos_size(), 4);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Fifos, FifoOpenInAnotherProcessIsRefused) {
  flakelab::base::TempDir tmp("/tmp", "flk-fifo-");
  std::string path = tmp.path() + "/shared";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  int ours = open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(ours, 0);
  ChildPid v{fork_paused([&] { return open(path.c_str(), O_RDONLY | O_NONBLOCK) == 0; })};
  ASSERT_GT(v.pid, 0);
  std::string msg = refusal(v.pid);
  EXPECT_NE(msg.find("pid " + std::to_string(v.pid) + " fd 0 (FIFO " + path + ")"), std::string::npos) << msg;
  EXPECT_NE(msg.find("also open in another process (pid " + std::to_string(getpid()) + " fd " + std::to_string(ours) + ")"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("outside the dumped process tree"), std::string::npos) << msg;
  close(ours);
}

TEST(Fifos, RemovedFifoFailsRestoreAndLeavesNothingBehind) {
  flakelab::base::TempDir tmp("/tmp", "flk-fifo-");
  ChildPid v{start_fifo_victim(tmp.path())};
  Image image = dump_process(v.pid);
  ASSERT_EQ(unlink((tmp.path() + "/fifo3").c_str()), 0);
  try {
    restore_process(image);
    FAIL() << "restore succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("FIFO " + tmp.path() + "/fifo3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ENOENT"), std::string::npos) << msg;
  }
  EXPECT_FALSE(alive(v.pid));
  v.pid = -1;
  // The other FIFOs hold nothing: the restorer's opens were all closed.
  int fd = open((tmp.path() + "/fifo1").c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(fd, 0);
  char c;
  EXPECT_EQ(read(fd, &c, 1), 0);
  close(fd);
}

// The victims check contents: a damaged image is noticed (so the tests above can fail).
TEST(SavedFiles, VictimsNoticeDamagedContents) {
  {
    flakelab::base::TempDir tmp("/tmp", "flk-unlinked-");
    ChildPid v{start_unlinked_victim(tmp.path())};
    Image image = dump_process(v.pid);
    for (auto& f : *image.root().process.mutable_saved_files())
      if (f.path() == tmp.path() + "/unlinked") (*f.mutable_data(0)->mutable_data())[2000] ^= 1;
    ASSERT_EQ(restore_process(image), v.pid);
    ASSERT_TRUE(wait_sleeping(v.pid));
    ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
    EXPECT_EQ(exit_code(v.pid) & kUnlinkedBadContent, kUnlinkedBadContent);
    v.pid = -1;
  }
  {
    ChildPid v{start_shmem_victim()};
    Image image = dump_process(v.pid);
    for (auto& f : *image.root().process.mutable_saved_files())
      if (f.kind() == pb::SAVED_SHARED_ANON && f.size() == 16 * 4096) (*f.mutable_data(0)->mutable_data())[5] ^= 1;
      else if (f.path() == "flk-memfd") f.set_seals(F_SEAL_SHRINK);  // F_SEAL_GROW lost
    ASSERT_EQ(restore_process(image), v.pid);
    ASSERT_TRUE(wait_sleeping(v.pid));
    ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
    int bad = exit_code(v.pid);
    EXPECT_EQ(bad & kShmemBadAnon, kShmemBadAnon) << bad;
    EXPECT_EQ(bad & kShmemBadSeals, kShmemBadSeals) << bad;
    v.pid = -1;
  }
}

TEST(Fifos, VictimNoticesLostFifoBytes) {
  flakelab::base::TempDir tmp("/tmp", "flk-fifo-");
  ChildPid v{start_fifo_victim(tmp.path())};
  Image image = dump_process(v.pid);
  image.root().process.mutable_fifos(0)->mutable_data()->pop_back();
  ASSERT_EQ(restore_process(image), v.pid);
  ASSERT_TRUE(wait_sleeping(v.pid));
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid) & kFifoBadData, kFifoBadData);
  v.pid = -1;
}
