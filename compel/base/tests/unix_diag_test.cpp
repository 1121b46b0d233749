#include "flakelab/base/unix_diag.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>

#include <gtest/gtest.h>

namespace flakelab::base {
namespace {

uint32_t inode_of(int fd) {
  struct stat st{};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<uint32_t>(st.st_ino);
}

TEST(UnixDiag, SeesBothEndsOfASocketPair) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  auto all = unix_diag_all();
  ASSERT_TRUE(all.count(inode_of(a.get())));
  EXPECT_EQ(all[inode_of(a.get())].peer, inode_of(b.get()));
  EXPECT_EQ(all[inode_of(a.get())].type, SOCK_STREAM);

  auto one = unix_diag_one(inode_of(b.get()));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->peer, inode_of(a.get()));

  UniqueFd diag = open_sock_diag();
  auto inodes = unix_socket_inodes(diag.get());
  EXPECT_NE(std::find(inodes.begin(), inodes.end(), inode_of(a.get())), inodes.end());
  EXPECT_NE(std::find(inodes.begin(), inodes.end(), inode_of(b.get())), inodes.end());
}

TEST(UnixDiag, AnInodeThatIsNoUnixSocketIsNothing) {
  EXPECT_FALSE(unix_diag_one(1).has_value());
}

}  // namespace
}  // namespace flakelab::base
