#include "flakelab/base/scm_rights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include <gtest/gtest.h>

namespace flakelab::base {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

ino_t inode_of(int fd) {
  struct stat st{};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

// Receives one message with room for `room` descriptors.
ReceivedRights receive(int socket, size_t room, ssize_t* bytes) {
  char data[16];
  std::vector<cmsghdr> control(CMSG_SPACE(sizeof(int) * room) / sizeof(cmsghdr) + 1);
  ReceiveHeader header(data, sizeof(data), control.data(), CMSG_SPACE(sizeof(int) * room));
  *bytes = ::recvmsg(socket, header.get(), MSG_CMSG_CLOEXEC);
  return take_rights(header.header());
}

TEST(ScmRights, ReceiveHeaderTakesTheSendersAddress) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  const char abstract[] = "\0flakelab-scm-rights-test";
  std::copy(abstract, abstract + sizeof(abstract) - 1, name.sun_path);
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sizeof(abstract) - 1);
  ASSERT_EQ(::bind(a.get(), reinterpret_cast<sockaddr*>(&name), len), 0);
  ASSERT_EQ(::send(a.get(), "abc", 3, 0), 3);
  char data[8];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  sockaddr_un from{};
  ReceiveHeader header(data, sizeof(data), control, sizeof(control), &from);
  ASSERT_EQ(::recvmsg(b.get(), header.get(), 0), 3);
  EXPECT_EQ(std::string(data, 3), "abc");
  EXPECT_EQ(header.header().msg_namelen, len);
  EXPECT_EQ(std::string(from.sun_path, sizeof(abstract) - 1), std::string(abstract, sizeof(abstract) - 1));
  EXPECT_TRUE(take_rights(header.header()).fds.empty());
}

TEST(ScmRights, SendsAndOwnsDescriptorsInOrder) {
  Pair p;
  UniqueFd first(::open("/", O_RDONLY | O_CLOEXEC)), second(::open("/proc", O_RDONLY | O_CLOEXEC));
  std::array<int, 2> fds{first.get(), second.get()};
  ASSERT_EQ(send_with_rights(p.a.get(), "hi", 2, fds, MSG_NOSIGNAL), 2);
  ssize_t n = 0;
  ReceivedRights got = receive(p.b.get(), 4, &n);
  EXPECT_EQ(n, 2);
  EXPECT_FALSE(got.control_truncated);
  ASSERT_EQ(got.fds.size(), 2u);
  EXPECT_EQ(inode_of(got.fds[0].get()), inode_of(first.get()));
  EXPECT_EQ(inode_of(got.fds[1].get()), inode_of(second.get()));
  EXPECT_EQ(::fcntl(got.fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(ScmRights, NoDescriptorsMeansNoControlData) {
  Pair p;
  ASSERT_EQ(send_with_rights(p.a.get(), "x", 1, {}, MSG_NOSIGNAL), 1);
  ssize_t n = 0;
  ReceivedRights got = receive(p.b.get(), 1, &n);
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(got.fds.empty());
  EXPECT_FALSE(got.control_truncated);
}

TEST(ScmRights, ReportsTruncatedControlData) {
  Pair p;
  UniqueFd f(::open("/", O_RDONLY | O_CLOEXEC));
  std::array<int, 3> fds{f.get(), f.get(), f.get()};
  ASSERT_EQ(send_with_rights(p.a.get(), "x", 1, fds, MSG_NOSIGNAL), 1);
  ssize_t n = 0;
  ReceivedRights got = receive(p.b.get(), 1, &n);
  EXPECT_TRUE(got.control_truncated);
  EXPECT_LT(got.fds.size(), 3u);
}

}  // namespace
}  // namespace flakelab::base
