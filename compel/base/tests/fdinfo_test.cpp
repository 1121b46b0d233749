#include "flakelab/base/fdinfo.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <system_error>

namespace flakelab::base {
namespace {

TEST(Fdinfo, PosInDecimalFlagsInOctal) {
  Fdinfo info = Fdinfo::parse("pos:\t4096\nflags:\t02104002\nmnt_id:\t24\nino:\t3\n");
  EXPECT_EQ(info.pos(), 4096u);
  EXPECT_EQ(info.flags(), 02104002u);
  EXPECT_EQ(info.number("mnt_id", 10), 24u);
}

TEST(Fdinfo, Eventfd) {
  Fdinfo info = Fdinfo::parse("pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1057\n"
                              "eventfd-count:  fffffffffffffffe\neventfd-id: 12\neventfd-semaphore: 1\n");
  EXPECT_EQ(info.number("eventfd-count", 16), 0xfffffffffffffffeu);
  EXPECT_EQ(info.number("eventfd-semaphore", 10), 1u);
}

TEST(Fdinfo, Timerfd) {
  Fdinfo info = Fdinfo::parse("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\nclockid: 1\nticks: 3\n"
                              "settime flags: 01\nit_value: (2, 500000000)\nit_interval: (0, 250)\n");
  EXPECT_EQ(info.number("clockid", 10), 1u);
  EXPECT_EQ(info.number("ticks", 10), 3u);
  EXPECT_EQ(info.number("settime flags", 8), 1u);  // the key has a space
  auto value = info.time("it_value");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->sec, 2);
  EXPECT_EQ(value->nsec, 500000000);
  auto interval = info.time("it_interval");
  ASSERT_TRUE(interval);
  EXPECT_EQ(interval->nsec, 250);
  EXPECT_FALSE(info.time("clockid"));
}

TEST(Fdinfo, Signalfd) {
  Fdinfo info = Fdinfo::parse("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\nsigmask:\t0000000000004a02\n");
  EXPECT_EQ(info.number("sigmask", 16), 0x4a02u);
}

TEST(Fdinfo, EpollWatchLines) {
  Fdinfo info = Fdinfo::parse(
      "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n"
      "tfd:        5 events:       19 data:       deadbeef00000005  pos:0 ino:41c sdev:f\n"
      "tfd:        7 events: 80000001 data:                      7  pos:0 ino:41d sdev:f\n");
  ASSERT_EQ(info.watch_lines().size(), 2u);
  auto first = parse_epoll_watch(info.watch_lines()[0]);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->tfd, 5);
  EXPECT_EQ(first->events, 0x19u);
  EXPECT_EQ(first->data, 0xdeadbeef00000005u);
  auto second = parse_epoll_watch(info.watch_lines()[1]);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->events, 0x80000001u);
  EXPECT_EQ(second->data, 7u);
  EXPECT_FALSE(info.text("tfd"));  // watches are not fields
  EXPECT_FALSE(parse_epoll_watch("tfd: x events: 1 data: 2"));
  EXPECT_FALSE(parse_epoll_watch("tfd: -1 events: 1 data: 2"));
}

TEST(Fdinfo, MissingOrMalformedKeys) {
  Fdinfo info = Fdinfo::parse("mnt_id:\t15\neventfd-count: zz\nticks: -1\nempty:\nno colon here\n");
  EXPECT_THROW(info.pos(), std::runtime_error);
  EXPECT_THROW(info.flags(), std::runtime_error);
  EXPECT_FALSE(info.number("eventfd-count", 16));
  EXPECT_FALSE(info.number("ticks", 10));
  EXPECT_FALSE(info.number("empty", 10));
  EXPECT_EQ(info.text("empty"), "");
  EXPECT_FALSE(info.number("sigmask", 16));
  EXPECT_FALSE(info.time("it_value"));
  EXPECT_TRUE(Fdinfo::parse("").watch_lines().empty());
}

TEST(Fdinfo, ReadsALiveDescriptor) {
  int fd = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Fdinfo info = Fdinfo::read(getpid(), fd);
  EXPECT_EQ(info.flags() & O_NONBLOCK, static_cast<uint32_t>(O_NONBLOCK));
  EXPECT_EQ(info.flags() & O_CLOEXEC, static_cast<uint32_t>(O_CLOEXEC));
  EXPECT_EQ(info.number("eventfd-count", 16), 5u);
  close(fd);
}

TEST(Fdinfo, ReadOfAClosedFdNamesThePath) {
  try {
    Fdinfo::read(getpid(), 99999);
    FAIL() << "no throw";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/fdinfo/99999"), std::string::npos) << e.what();
    EXPECT_EQ(e.code().value(), ENOENT);
  }
}

}  // namespace
}  // namespace flakelab::base
