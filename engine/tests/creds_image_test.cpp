// The credentials record (Thread.creds, Process.seccomp_filters): validation, the
// filter plan restore follows, and `show` (creds_image.cpp).
#include <gtest/gtest.h>
#include <linux/seccomp.h>

#include <functional>
#include <random>
#include <string>

#include "creds_image.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"
#include "image_frame.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

std::string program(int insns, uint8_t fill) { return std::string(static_cast<size_t>(insns) * 8, static_cast<char>(fill)); }

// Three threads: uid 1000 with caps in the leader, a filter #1 every thread has, #2
// on top of it in thread 1 only.
Image make_creds_image() {
  Image img = make_valid_image();
  pb::Process& p = img.root().process;
  for (uint32_t tid : {4243u, 4244u}) {
    auto* t = p.add_threads();
    *t = p.threads(0);
    t->set_tid(tid);
  }
  auto* f1 = p.add_seccomp_filters();
  f1->set_id(1);
  f1->set_program(program(7, 1));
  auto* f2 = p.add_seccomp_filters();
  f2->set_id(2);
  f2->set_parent(1);
  f2->set_program(program(3, 2));
  f2->set_flags(SECCOMP_FILTER_FLAG_LOG);
  for (int i = 0; i < p.threads_size(); ++i) {
    auto* c = p.mutable_threads(i)->mutable_creds();
    c->set_uid(1000); c->set_euid(1000); c->set_suid(1000); c->set_fsuid(1000);
    c->set_gid(100); c->set_egid(100); c->set_sgid(100); c->set_fsgid(100);
    c->add_groups(27);
    c->add_groups(100);
    c->set_cap_bounding(CredsLimits::kAllCaps);
    if (i == 0) {
      c->set_cap_permitted(0x420);  // cap_kill, cap_net_bind_service
      c->set_cap_effective(0x420);
      c->set_cap_inheritable(0x400);
      c->set_cap_ambient(0x400);
      c->set_securebits(0x7);
    }
    c->set_no_new_privs(true);
    c->set_seccomp_mode(SECCOMP_MODE_FILTER);
    c->set_seccomp_filter(i == 1 ? 2 : 1);
    c->set_loginuid(CredsLimits::kNoUid);
  }
  return img;
}

std::string error_of(const std::function<void(pb::Process&)>& mutate) {
  Image img = make_creds_image();
  mutate(img.root().process);
  try {
    validate_image(img);
  } catch (const ImageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "validation succeeded";
  return "";
}

void expect_field(const std::function<void(pb::Process&)>& mutate, const std::string& field, const std::string& problem) {
  std::string msg = error_of(mutate);
  EXPECT_NE(msg.find("image process.img: " + field + ": "), std::string::npos) << msg;
  EXPECT_NE(msg.find(problem), std::string::npos) << msg;
}

pb::Credentials& creds(pb::Process& p, int i) { return *p.mutable_threads(i)->mutable_creds(); }

}  // namespace

TEST(CredsImage, ValidImageRoundTripsAndValidates) {
  Image img = make_creds_image();
  validate_image(img);
  Image back = decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
}

TEST(CredsImage, BadRecordsNameTheirField) {
  expect_field([](pb::Process& p) { creds(p, 0).set_euid(CredsLimits::kNoUid); }, "threads[0].creds.euid",
               "4294967295 is not an id");
  expect_field([](pb::Process& p) { creds(p, 1).add_groups(CredsLimits::kNoUid); }, "threads[1].creds.groups",
               "is not a group");
  expect_field([](pb::Process& p) { creds(p, 0).set_cap_effective(0x1000); }, "threads[0].creds.cap_effective",
               "not within cap_permitted");
  expect_field([](pb::Process& p) { creds(p, 0).set_cap_ambient(0x20); }, "threads[0].creds.cap_ambient",
               "not within cap_permitted and cap_inheritable");
  expect_field([](pb::Process& p) { creds(p, 2).set_cap_bounding(uint64_t{1} << 50); }, "threads[2].creds.cap_bounding",
               "beyond the last one");
  expect_field([](pb::Process& p) { creds(p, 0).set_securebits(0x100); }, "threads[0].creds.securebits", "unknown bits");
  expect_field([](pb::Process& p) { creds(p, 0).set_seccomp_mode(3); }, "threads[0].creds.seccomp_mode",
               "3 is not a seccomp mode");
  expect_field([](pb::Process& p) { creds(p, 1).set_seccomp_filter(9); }, "threads[1].creds.seccomp_filter",
               "filter 9 is not in seccomp_filters");
  expect_field([](pb::Process& p) { creds(p, 1).set_seccomp_mode(SECCOMP_MODE_STRICT); },
               "threads[1].creds.seccomp_filter", "set without filter mode");
  expect_field([](pb::Process& p) { p.mutable_threads(2)->clear_creds(); }, "threads",
               "some threads have credentials and some do not");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(0)->set_parent(2); }, "seccomp_filters[0].parent",
               "filter 2 is not an earlier record");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(1)->set_id(1); }, "seccomp_filters[1].id", "appears twice");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(1)->set_id(0); }, "seccomp_filters[1].id", "is 0");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(0)->set_program("1234567"); },
               "seccomp_filters[0].program", "is not a program");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(0)->set_program(""); }, "seccomp_filters[0].program",
               "is not a program");
  expect_field([](pb::Process& p) { p.mutable_seccomp_filters(1)->set_flags(1); }, "seccomp_filters[1].flags",
               "unknown flags");
  // The kernel's 32768 instructions per chain, 4 more per filter.
  expect_field(
      [](pb::Process& p) {
        uint32_t parent = 2;
        for (uint32_t id = 3; id < 12; ++id) {
          auto* f = p.add_seccomp_filters();
          f->set_id(id);
          f->set_parent(parent);
          f->set_program(program(4096, 3));
          parent = id;
        }
      },
      "seccomp_filters[9].program", "more than the kernel's 32768");
  expect_field(
      [](pb::Process& p) {
        for (auto& t : *p.mutable_threads()) t.clear_creds();
      },
      "seccomp_filters", "filters but no thread credentials");
}

TEST(CredsImage, ImagesWithoutCredentialsStayValid) {
  Image img = make_valid_image();
  validate_image(img);
  EXPECT_EQ(show_credentials(img.root().process), "");
}

TEST(CredsImage, PlanSharesTheCommonPrefixOnly) {
  Image img = make_creds_image();
  const pb::Process& p = img.root().process;
  SeccompPlan plan = seccomp_plan(p);
  ASSERT_EQ(plan.shared.size(), 1u);
  EXPECT_EQ(plan.shared[0]->id(), 1u);
  ASSERT_EQ(plan.per_thread.size(), 3u);
  EXPECT_TRUE(plan.per_thread[0].empty());
  ASSERT_EQ(plan.per_thread[1].size(), 1u);
  EXPECT_EQ(plan.per_thread[1][0]->id(), 2u);
  EXPECT_TRUE(plan.per_thread[2].empty());
  // A thread without filters: nothing is shared, each installs its whole chain.
  creds(img.root().process, 2).set_seccomp_mode(SECCOMP_MODE_STRICT);
  creds(img.root().process, 2).set_seccomp_filter(0);
  plan = seccomp_plan(p);
  EXPECT_TRUE(plan.shared.empty());
  EXPECT_EQ(plan.per_thread[0].size(), 1u);
  EXPECT_EQ(plan.per_thread[1].size(), 2u);
  EXPECT_TRUE(plan.per_thread[2].empty());
}

TEST(CredsImage, ShowListsCredentialsAndFilters) {
  Image img = make_creds_image();
  std::string text = show_image_text(img);
  for (const char* want : {"credentials", "tid 4242  uid 1000/1000/1000/1000  gid 100/100/100/100  groups [27,100]",
                           "securebits 0x7  no_new_privs  seccomp filter #1", "tid 4243", "seccomp filter #2",
                           "caps inh 400 prm 420 eff 420", "seccomp filter #2  after #1  3 instructions  log"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  std::string json = show_image_json(img);
  for (const char* want : {"\"creds\"", "\"seccomp_filters\"", "\"cap_permitted\": \"1056\"", "\"securebits\": 7"})
    EXPECT_NE(json.find(want), std::string::npos) << want << "\n" << json;
  EXPECT_EQ(cap_names(0x420), "cap_kill, cap_net_bind_service");
  EXPECT_EQ(cap_names(uint64_t{1} << 24), "cap_sys_resource");
  EXPECT_EQ(cap_names(0), "none");
}

// The decoder on mutated images holding the new records (what the fuzzer does):
// success or ImageError only.
TEST(CredsImage, RandomMutationsNeverCrash) {
  const Image base = make_creds_image();
  std::string meta;
  base.root().process.SerializeToString(&meta);
  const std::vector<uint8_t> pages = encode_pages_file(base.root().pages);
  std::mt19937_64 rng(1603);
  int rejected = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<uint8_t> payload(meta.begin(), meta.end());
    for (int e = 1 + static_cast<int>(rng() % 6); e > 0; --e) {
      size_t pos = rng() % payload.size();
      if (rng() % 3 == 0)
        payload[pos] = static_cast<uint8_t>(rng());
      else
        payload[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    try {
      Image img = decode_image(detail::frame(detail::kProcessMagic, payload, kImageFormatVersion), pages);
      for (const auto& proc : img.processes) (void)seccomp_plan(proc.process);
    } catch (const ImageError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
}
