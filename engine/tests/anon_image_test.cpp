// Image records of eventfd, epoll, timerfd and signalfd: round trip, every
// validation rule, and how show prints them.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

#include <functional>
#include <string>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"

using namespace flakelab::engine;

namespace {

// The fixture's image plus: fd 4 eventfd (files[3]), fd 5 epoll (files[4])
// watching fd 4 and fd 6 (the fixture's pipe read end, files[1]), fd 7 timerfd
// (files[5]), fd 8 signalfd (files[6]).
Image anon_image() {
  Image img = flakelab::engine::testing::make_valid_image();
  pb::Process& p = img.root().process;
  auto add_file = [&](pb::FileKind kind, uint32_t fd) {
    auto* f = p.add_files();
    f->set_kind(kind);
    f->set_flags(O_RDWR);
    auto* d = p.add_fds();
    d->set_fd(fd);
    d->set_file(static_cast<uint32_t>(p.files_size() - 1));
    return f;
  };
  auto* ev = add_file(pb::FILE_EVENTFD, 4);
  ev->set_flags(O_RDWR | O_NONBLOCK);
  ev->mutable_eventfd()->set_count(5);
  ev->mutable_eventfd()->set_semaphore(true);
  auto* ep = add_file(pb::FILE_EPOLL, 5);
  auto* w = ep->mutable_epoll()->add_watches();
  w->set_tfd(4);
  w->set_events(EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP);
  w->set_data(0x1122334455667788ull);
  w = ep->mutable_epoll()->add_watches();
  w->set_tfd(6);
  w->set_events(EPOLLONESHOT);
  w->set_data(7);
  auto* d = p.add_fds();
  d->set_fd(6);
  d->set_file(1);
  auto* t = add_file(pb::FILE_TIMERFD, 7)->mutable_timerfd();
  t->set_clockid(CLOCK_MONOTONIC);
  t->set_ticks(3);
  t->set_settime_flags(TFD_TIMER_ABSTIME);
  t->set_value_sec(1);
  t->set_value_nsec(500);
  t->set_interval_nsec(5000000);
  t->set_due_sec(1000);
  t->set_due_nsec(7);
  add_file(pb::FILE_SIGNALFD, 8)->mutable_signalfd()->set_mask(0x800);
  return img;
}

std::string error_of(const std::function<void(pb::Process&)>& mutate) {
  Image img = anon_image();
  mutate(img.root().process);
  try {
    decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  } catch (const ImageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoding succeeded";
  return "";
}

void expect_field(const std::function<void(pb::Process&)>& mutate, const std::string& field) {
  std::string msg = error_of(mutate);
  EXPECT_NE(msg.find("image process.img: " + field + ":"), std::string::npos) << msg;
}

pb::EpollWatch* watch(pb::Process& p, int k) { return p.mutable_files(4)->mutable_epoll()->mutable_watches(k); }

}  // namespace

TEST(AnonImage, RoundTrips) {
  Image img = anon_image();
  Image back = decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
  EXPECT_EQ(back.root().process.files(5).timerfd().ticks(), 3u);
}

TEST(AnonImage, BadEventfd) {
  expect_field([](pb::Process& p) { p.mutable_files(3)->clear_eventfd(); }, "files[3].eventfd");
  expect_field([](pb::Process& p) { p.mutable_files(3)->mutable_eventfd()->set_count(~0ull); }, "files[3].eventfd.count");
  expect_field([](pb::Process& p) { p.mutable_files(3)->set_flags(O_RDONLY); }, "files[3].flags");
  expect_field([](pb::Process& p) { p.mutable_files(3)->set_flags(O_RDWR | O_APPEND); }, "files[3].flags");
  expect_field([](pb::Process& p) { p.mutable_files(3)->set_path("/tmp/x"); }, "files[3].path");
  expect_field([](pb::Process& p) { p.mutable_files(3)->set_kind(static_cast<pb::FileKind>(14)); }, "files[3].kind");
}

TEST(AnonImage, BadEpollWatches) {
  expect_field([](pb::Process& p) { p.mutable_files(4)->clear_epoll(); }, "files[4].epoll");
  expect_field([](pb::Process& p) { watch(p, 0)->set_tfd(99); }, "files[4].epoll.watches[0].tfd");
  expect_field([](pb::Process& p) { watch(p, 1)->set_tfd(4); }, "files[4].epoll.watches[1].tfd");  // twice
  expect_field([](pb::Process& p) { watch(p, 0)->set_tfd(5); }, "files[4].epoll.watches[0].tfd");  // itself
  expect_field([](pb::Process& p) { watch(p, 0)->set_tfd(3); }, "files[4].epoll.watches[0].tfd");  // regular file
  expect_field([](pb::Process& p) { watch(p, 0)->set_events(EPOLLIN | (1u << 20)); }, "files[4].epoll.watches[0].events");
  expect_field([](pb::Process& p) { watch(p, 0)->set_events(EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT); },
               "files[4].epoll.watches[0].events");
  // An epoll no fd refers to: its watches would have no number to be added under.
  expect_field([](pb::Process& p) { p.mutable_fds(3)->set_file(3); }, "files[4].epoll");
  expect_field(
      [](pb::Process& p) {
        auto* ep = p.mutable_files(4)->mutable_epoll();
        for (uint64_t k = 0; k <= ImageLimits::kMaxFds; ++k) ep->add_watches()->set_tfd(4);
      },
      "files[4].epoll.watches");
}

TEST(AnonImage, BadTimerfd) {
  auto t = [](pb::Process& p) { return p.mutable_files(5)->mutable_timerfd(); };
  expect_field([](pb::Process& p) { p.mutable_files(5)->clear_timerfd(); }, "files[5].timerfd");
  expect_field([&](pb::Process& p) { t(p)->set_clockid(CLOCK_BOOTTIME_ALARM); }, "files[5].timerfd.clockid");
  expect_field([&](pb::Process& p) { t(p)->set_clockid(1000); }, "files[5].timerfd.clockid");
  expect_field([&](pb::Process& p) { t(p)->set_settime_flags(4); }, "files[5].timerfd.settime_flags");
  expect_field([&](pb::Process& p) { t(p)->set_value_nsec(1000000000); }, "files[5].timerfd.value");
  expect_field([&](pb::Process& p) { t(p)->set_value_sec(-1); }, "files[5].timerfd.value");
  expect_field([&](pb::Process& p) { t(p)->set_interval_sec(1ll << 40); }, "files[5].timerfd.interval");
  expect_field([&](pb::Process& p) { t(p)->set_interval_nsec(-5); }, "files[5].timerfd.interval");
  expect_field([&](pb::Process& p) { t(p)->set_due_nsec(1000000000); }, "files[5].timerfd.due");
  expect_field([&](pb::Process& p) { t(p)->set_due_sec(-3); }, "files[5].timerfd.due");
  expect_field(
      [&](pb::Process& p) {
        t(p)->set_due_sec(0);
        t(p)->set_due_nsec(0);
      },
      "files[5].timerfd.due");
}

TEST(AnonImage, BadSignalfd) {
  expect_field([](pb::Process& p) { p.mutable_files(6)->clear_signalfd(); }, "files[6].signalfd");
  expect_field([](pb::Process& p) { p.mutable_files(6)->mutable_signalfd()->set_mask(1ull << (SIGKILL - 1)); },
               "files[6].signalfd.mask");
  expect_field([](pb::Process& p) { p.mutable_files(6)->mutable_signalfd()->set_mask(1ull << (SIGSTOP - 1)); },
               "files[6].signalfd.mask");
}

TEST(AnonImage, ShowPrintsTheirState) {
  std::string text = show_image_text(anon_image());
  for (const char* want :
       {"4 -> file 3 eventfd count 5 semaphore flags 04002", "5 -> file 4 epoll 2 watches",
        "watch fd 4 events 0x80000019 data 0x1122334455667788", "watch fd 6 events 0x40000000 data 0x7",
        "7 -> file 5 timerfd clock 1 ticks 3 left 1.000000500 interval 0.005000000 settime flags 01 due 1000.000000007",
        "8 -> file 6 signalfd sigmask 0000000000000800"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  std::string json = show_image_json(anon_image());
  for (const char* want : {"\"kind\": \"FILE_EPOLL\"", "\"tfd\": 6", "\"semaphore\": true", "\"clockid\": 1",
                           "\"mask\": \"2048\""})
    EXPECT_NE(json.find(want), std::string::npos) << want << "\n" << json;
}
