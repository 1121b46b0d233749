// The list of kinds (kinds/all_kinds.inc): every kind an image can hold has its
// traits, its module and its record rules where it has a record, and the
// dispatcher's first match is the right module for real fds of each kind.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "flakelab/base/temp_dir.h"
#include "kinds/file_kind_traits.h"
#include "kinds/file_record.h"
#include "kinds/kind.h"

namespace flakelab::engine {
namespace {

TEST(FileKinds, EveryKnownKindHasTraitsAModuleAndItsRecordRules) {
  for (int v = pb::FileKind_MIN; v <= pb::FileKind_MAX; ++v) {
    if (!pb::FileKind_IsValid(v) || v == pb::FILE_UNKNOWN) continue;
    auto kind = static_cast<pb::FileKind>(v);
    const FileKindTraits* traits = file_kind_traits(kind);
    ASSERT_NE(traits, nullptr) << pb::FileKind_Name(kind);
    const FileKindModule* module = file_kind_module(kind);
    ASSERT_NE(module, nullptr) << pb::FileKind_Name(kind);
    EXPECT_EQ(module->kind(), kind);
    // A kind without a path has an image side of its own that names it in `show`;
    // those on anonymous inodes check a record in each file.
    EXPECT_EQ(file_record(kind) != nullptr, !has_path(kind)) << pb::FileKind_Name(kind);
    if (traits->shape == FileShape::kAnonInode) {
      EXPECT_NE(file_record(kind)->validate, nullptr) << pb::FileKind_Name(kind);
    }
  }
  EXPECT_EQ(file_kind_traits(pb::FILE_UNKNOWN), nullptr);
  EXPECT_EQ(file_kind_module(pb::FILE_UNKNOWN), nullptr);
  EXPECT_EQ(file_kind_traits(static_cast<pb::FileKind>(99)), nullptr);
  EXPECT_EQ(file_kind_modules().size(), 13u);
}

// The order in which a tree restore opens what kinds' tables hold is their
// declared phase: saved files first (mappings share them), sockets last (their
// queues carry the other files).
TEST(FileKinds, TreeTablesDeclareTheirPhase) {
  std::map<pb::FileKind, TablePhase> phases;
  for (const FileKindModule* m : file_kind_modules())
    if (auto table = m->tree_table()) phases[m->kind()] = table->phase();
  EXPECT_EQ(phases, (std::map<pb::FileKind, TablePhase>{{pb::FILE_SAVED, TablePhase::kBeforeFiles},
                                                        {pb::FILE_PIPE, TablePhase::kEachFile},
                                                        {pb::FILE_FIFO, TablePhase::kAfterFiles},
                                                        {pb::FILE_UNIX_SOCKET, TablePhase::kLast}}));
  pb::File epoll;
  epoll.set_kind(pb::FILE_EPOLL);
  epoll.mutable_epoll()->add_watches()->set_tfd(4);
  EXPECT_TRUE(file_kind_module(pb::FILE_EPOLL)->strip_shared(epoll));
  EXPECT_EQ(epoll.epoll().watches_size(), 0);
  pb::File regular;
  regular.set_kind(pb::FILE_REGULAR);
  EXPECT_FALSE(file_kind_module(pb::FILE_REGULAR)->strip_shared(regular));
}

// A pipe or FIFO record two processes of a tree hold keeps its bytes with the
// first only; a table merged on restore takes the first record of an id.
TEST(FileKinds, TablesAreStoredOnceAndMergedById) {
  pb::Process a, b;
  auto* pa = a.add_pipes();
  pa->set_id(5);
  pa->set_data("abc");
  auto* pb5 = b.add_pipes();
  pb5->set_id(5);
  pb5->set_data("abc");
  auto* pb6 = b.add_pipes();
  pb6->set_id(6);
  pb6->set_data("xyz");
  file_kind_module(pb::FILE_PIPE)->share_tree({&a, &b});
  EXPECT_EQ(a.pipes(0).data(), "abc");
  EXPECT_EQ(b.pipes(0).data(), "");
  EXPECT_EQ(b.pipes(1).data(), "xyz");

  pb::Process merged;
  std::set<uint64_t> ids;
  merge_by_id(a.pipes(), *merged.mutable_pipes(), ids);
  merge_by_id(b.pipes(), *merged.mutable_pipes(), ids);
  ASSERT_EQ(merged.pipes_size(), 2);
  EXPECT_EQ(merged.pipes(0).data(), "abc");
  EXPECT_EQ(merged.pipes(1).id(), 6u);
}

TEST(FileKinds, PipesAndSocketsAreNamedByTheirRecords) {
  pb::File pipe;
  pipe.set_kind(pb::FILE_PIPE);
  pipe.set_pipe_id(4242);
  EXPECT_EQ(file_record(pb::FILE_PIPE)->show(pipe), "pipe:[4242]");
  pb::File socket;
  socket.set_kind(pb::FILE_UNIX_SOCKET);
  socket.set_unix_socket(7);
  EXPECT_EQ(file_record(pb::FILE_UNIX_SOCKET)->show(socket), "unix socket #7");
}

TEST(FileKinds, ShapesAreSaidOnce) {
  EXPECT_TRUE(is_anon_inode_kind(pb::FILE_EVENTFD));
  EXPECT_TRUE(is_anon_inode_kind(pb::FILE_SIGNALFD));
  EXPECT_FALSE(is_anon_inode_kind(pb::FILE_PIPE));
  EXPECT_TRUE(is_saved_table_kind(pb::FILE_SAVED));
  EXPECT_TRUE(is_saved_table_kind(pb::FILE_FIFO));
  EXPECT_FALSE(is_saved_table_kind(pb::FILE_REGULAR));
  EXPECT_TRUE(has_path(pb::FILE_REGULAR));
  EXPECT_TRUE(has_path(pb::FILE_FIFO));
  EXPECT_FALSE(has_path(pb::FILE_UNIX_SOCKET));
  EXPECT_FALSE(has_path(pb::FILE_INET_SOCKET));
  EXPECT_FALSE(has_path(pb::FILE_UNKNOWN));
}

// The test's descriptors, each owned until the test ends.
class Fds {
 public:
  int add(int fd) {
    EXPECT_GE(fd, 0);
    fds_.emplace_back(fd);
    return fd;
  }

 private:
  std::vector<base::UniqueFd> fds_;
};

pb::FileKind matched(int fd) {
  std::optional<FdProbe> probe = probe_fd(getpid(), fd);
  if (!probe) return pb::FILE_UNKNOWN;
  const FileKindModule* m = match_file_kind(*probe);
  return m ? m->kind() : pb::FILE_UNKNOWN;
}

TEST(FileKinds, TheFirstMatchIsTheKindOfTheFd) {
  Fds fds;
  const base::TempDir tmp("/tmp", "file_kinds_");
  const char* dir = tmp.path().c_str();
  std::string regular = std::string(dir) + "/regular", fifo = std::string(dir) + "/fifo";
  EXPECT_EQ(matched(fds.add(open(regular.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600))), pb::FILE_REGULAR);
  EXPECT_EQ(matched(fds.add(open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))), pb::FILE_DIRECTORY);
  EXPECT_EQ(matched(fds.add(open("/dev/null", O_RDWR | O_CLOEXEC))), pb::FILE_CHARDEV);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(matched(fds.add(open(fifo.c_str(), O_RDWR | O_CLOEXEC))), pb::FILE_FIFO);
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  fds.add(p[0]);
  fds.add(p[1]);
  EXPECT_EQ(matched(p[0]), pb::FILE_PIPE);
  EXPECT_EQ(matched(p[1]), pb::FILE_PIPE);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  fds.add(sv[0]);
  fds.add(sv[1]);
  EXPECT_EQ(matched(sv[0]), pb::FILE_UNIX_SOCKET);
  EXPECT_EQ(matched(fds.add(eventfd(0, EFD_CLOEXEC))), pb::FILE_EVENTFD);
  EXPECT_EQ(matched(fds.add(epoll_create1(EPOLL_CLOEXEC))), pb::FILE_EPOLL);
  EXPECT_EQ(matched(fds.add(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC))), pb::FILE_TIMERFD);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  EXPECT_EQ(matched(fds.add(signalfd(-1, &mask, SFD_CLOEXEC))), pb::FILE_SIGNALFD);
  // Saved files come before regular ones: a memfd and an unlinked file are regular files too.
  EXPECT_EQ(matched(fds.add(memfd_create("file_kinds", MFD_CLOEXEC))), pb::FILE_SAVED);
  std::string unlinked = std::string(dir) + "/unlinked";
  int gone = fds.add(open(unlinked.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_EQ(unlink(unlinked.c_str()), 0);
  EXPECT_EQ(matched(gone), pb::FILE_SAVED);
  // No module takes an inotify (yet): the dispatcher refuses it by name.
  EXPECT_EQ(matched(fds.add(inotify_init1(IN_CLOEXEC))), pb::FILE_UNKNOWN);
  EXPECT_FALSE(probe_fd(getpid(), 99999).has_value());  // closed: nothing, not an error
}

}  // namespace
}  // namespace flakelab::engine
