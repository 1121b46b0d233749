// The tree part of the image format: version 3 round trips, version 1 and 2
// images still read, and every rule of the tree records refused with a clear
// message.
#include <gtest/gtest.h>

#include <signal.h>

#include <cstring>
#include <functional>
#include <span>
#include <string>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"
#include "image_frame.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;

namespace {

// Root 4242 (in the caller's session and group) with a live child 4243 that
// leads its own group and a zombie 4244 that exited with status 3.
Image make_tree_image() {
  Image img = make_valid_image();
  ProcessImage child{make_valid_image().root().process, make_valid_image().root().pages};
  child.process.set_pid(4243);
  child.process.mutable_threads(0)->set_tid(4243);
  img.processes.push_back(std::move(child));
  auto add = [&](uint32_t pid, uint32_t ppid, uint32_t pgid, uint32_t sid) {
    auto* r = img.tree.add_processes();
    r->set_pid(pid);
    r->set_ppid(ppid);
    r->set_pgid(pgid);
    r->set_sid(sid);
    r->set_exit_signal(SIGCHLD);
    return r;
  };
  add(4242, 100, 100, 100);
  add(4243, 4242, 4243, 100);
  auto* z = add(4244, 4242, 100, 100);
  z->set_zombie(true);
  z->set_exit_status(3 << 8);
  z->set_comm("gone");
  return img;
}

Image round_trip(const Image& img) {
  auto [process, pages] = encode_image_files(img);
  return decode_image(process, pages);
}

std::string refusal(const std::function<void(Image&)>& mutate) {
  Image img = make_tree_image();
  mutate(img);
  try {
    validate_image(img, "process.img");
  } catch (const ImageError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(TreeImage, RoundTripKeepsRecordsProcessesAndPages) {
  Image img = make_tree_image();
  validate_image(img);
  Image back = round_trip(img);
  ASSERT_EQ(back.tree.processes_size(), 3);
  EXPECT_EQ(back.tree.processes(2).exit_status(), 3u << 8);
  EXPECT_FALSE(back.tree.processes(0).has_process());
  ASSERT_EQ(back.processes.size(), 2u);
  EXPECT_EQ(back.processes[1].process.pid(), 4243u);
  EXPECT_EQ(back.root().pages, img.root().pages);
  EXPECT_EQ(back.processes[1].pages, img.processes[1].pages);
  std::string text = show_image_text(back);
  EXPECT_NE(text.find("tree: 3 processes (1 zombies)"), std::string::npos) << text;
  EXPECT_NE(text.find("pid 4244 ppid 4242 pgid 100 sid 100 zombie \"gone\" wait status 0x300"), std::string::npos) << text;
  std::string json = show_image_json(back);
  EXPECT_NE(json.find("\"descendants\""), std::string::npos);
  EXPECT_NE(json.find("\"zombie\": true"), std::string::npos) << json;
}

TEST(TreeImage, SingleProcessImagesStayVersionOne) {
  Image img = make_valid_image();
  auto [process, pages] = encode_image_files(img);
  uint32_t version;
  std::memcpy(&version, process.data() + 8, 4);
  EXPECT_EQ(version, kImageFormatVersion);
  Image back = decode_image(process, pages);
  EXPECT_TRUE(back.tree.processes().empty());
  auto [tree_process, tree_pages] = encode_image_files(make_tree_image());
  std::memcpy(&version, tree_process.data() + 8, 4);
  EXPECT_EQ(version, kPageAlignedFormatVersion);
}

TEST(TreeImage, VersionThreePagesStartOnAPageBoundary) {
  auto [process, pages] = encode_image_files(make_tree_image());
  uint32_t version, header_size;
  std::memcpy(&version, pages.data() + 8, 4);
  std::memcpy(&header_size, pages.data() + 12, 4);
  EXPECT_EQ(version, kPageAlignedFormatVersion);
  EXPECT_EQ(header_size, 4096u);
  std::memcpy(&header_size, process.data() + 12, 4);
  EXPECT_EQ(header_size, detail::kHeaderSize);  // the process file keeps the short header
  for (size_t i = detail::kHeaderSize; i < 4096; ++i) ASSERT_EQ(pages[i], 0) << "padding byte " << i;
  Image img = make_tree_image();
  ASSERT_EQ(pages.size(), 4096 + img.root().pages.size() + img.processes[1].pages.size());
  EXPECT_EQ(std::memcmp(pages.data() + 4096, img.root().pages.data(), img.root().pages.size()), 0);
}

TEST(TreeImage, VersionTwoImagesStayReadable) {
  // What a build before version 3 wrote: the same payloads behind 32-byte headers.
  Image img = make_tree_image();
  auto [process, pages] = encode_image_files(img);
  std::span<const uint8_t> meta(process.data() + detail::kHeaderSize, process.size() - detail::kHeaderSize);
  std::span<const uint8_t> payload(pages.data() + 4096, pages.size() - 4096);
  Image back = decode_image(detail::frame(detail::kProcessMagic, meta, kTreeFormatVersion),
                            detail::frame(detail::kPagesMagic, payload, kTreeFormatVersion));
  ASSERT_EQ(back.processes.size(), 2u);
  EXPECT_EQ(back.root().pages, img.root().pages);
  EXPECT_EQ(back.processes[1].pages, img.processes[1].pages);
  // A version 2 pages file beside a version 3 process file is refused.
  try {
    decode_image(process, detail::frame(detail::kPagesMagic, payload, kTreeFormatVersion));
    FAIL() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "version") << e.what();
  }
}

TEST(TreeImage, MismatchedFileVersionsAndPagesAreRefused) {
  Image img = make_tree_image();
  auto [process, pages] = encode_image_files(img);
  auto old_pages = encode_pages_file(img.root().pages);  // version 1 pages beside a version 3 tree
  try {
    decode_image(process, old_pages);
    FAIL() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "version") << e.what();
  }
  std::vector<uint8_t> short_payload(img.root().pages.begin(), img.root().pages.end());  // the child's pages missing
  auto short_pages = detail::frame(detail::kPagesMagic, short_payload, kPageAlignedFormatVersion);
  try {
    decode_image(process, short_pages);
    FAIL() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "payload_len") << e.what();
    EXPECT_NE(std::string(e.what()).find("pid 4243"), std::string::npos) << e.what();
  }
}

TEST(TreeImage, BrokenRecordsAreRefused) {
  struct Case {
    const char* what;
    std::function<void(Image&)> mutate;
    const char* expect;
  };
  const Case cases[] = {
      {"unknown parent", [](Image& i) { i.tree.mutable_processes(1)->set_ppid(999); }, "parent 999 is not an earlier process"},
      {"duplicate pid", [](Image& i) { i.tree.mutable_processes(2)->set_pid(4243); }, "appears twice"},
      {"zombie root", [](Image& i) { i.tree.mutable_processes(0)->set_zombie(true); }, "cannot be a zombie"},
      {"core dump", [](Image& i) { i.tree.mutable_processes(2)->set_exit_status(SIGSEGV | 0x80); }, "without core dump"},
      {"harmless signal", [](Image& i) { i.tree.mutable_processes(2)->set_exit_status(SIGCHLD); }, "without core dump"},
      {"zombie parent",
       [](Image& i) {
         i.tree.mutable_processes(1)->set_ppid(4244);
         i.tree.mutable_processes()->SwapElements(1, 2);
       },
       "is a zombie"},
      {"session of a later setsid",
       [](Image& i) { i.tree.mutable_processes(1)->set_sid(77); }, "in session 77, its parent pid 4242 in session 100"},
      {"session leader not group leader",
       [](Image& i) {
         i.tree.mutable_processes(1)->set_sid(4243);
         i.tree.mutable_processes(1)->set_pgid(4242);
       },
       "leads session 4243 but not its own group"},
      {"outside group", [](Image& i) { i.tree.mutable_processes(2)->set_pgid(555); }, "group 555 whose leader is not in the tree"},
      {"group in another session",
       [](Image& i) {
         i.tree.mutable_processes(0)->set_sid(4242);
         i.tree.mutable_processes(0)->set_pgid(4242);
         i.tree.mutable_processes(1)->set_sid(4242);
         i.tree.mutable_processes(2)->set_sid(4242);
         i.tree.mutable_processes(2)->set_pgid(4243);
         i.tree.mutable_processes(1)->set_sid(4243);
       },
       "is not led by pid 4243 in the same session"},
      {"pid out of range", [](Image& i) { i.tree.mutable_processes(2)->set_pid(0); }, "out of range"},
      {"exit signal", [](Image& i) { i.tree.mutable_processes(1)->set_exit_signal(65); }, "is not a signal"},
      {"live without image", [](Image& i) { i.processes.resize(1); }, "has no process image"},
      {"image without record", [](Image& i) { i.tree.mutable_processes()->RemoveLast(); i.tree.mutable_processes(1)->set_zombie(true); i.tree.mutable_processes(1)->set_exit_status(0); }, "without a tree record"},
      {"record pid mismatch", [](Image& i) { i.processes[1].process.set_pid(4250); i.processes[1].process.mutable_threads(0)->set_tid(4250); }, "its process image is pid 4250"},
      {"shared file disagrees",
       [](Image& i) {
         i.root().process.mutable_files(0)->set_tree_file(9);
         i.processes[1].process.mutable_files(0)->set_tree_file(9);
         i.processes[1].process.mutable_files(0)->set_flags(i.root().process.files(0).flags() ^ 02000);
       },
       "differs from the same file in another process"},
  };
  for (const auto& c : cases) {
    std::string msg = refusal(c.mutate);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    EXPECT_EQ(msg.rfind("image process.img", 0), 0u) << c.what << ": " << msg;
  }
}

TEST(TreeImage, SessionAndGroupOutsideThePidNamespaceReadZero) {
  // In a harness trial's pid namespace the victim's session and group, led from
  // the parent namespace, read 0: they are the root's inherited ones.
  Image img = make_tree_image();
  for (auto& r : *img.tree.mutable_processes()) {
    r.set_sid(0);
    if (r.pgid() == 100) r.set_pgid(0);
  }
  validate_image(img);
  std::string msg = refusal([](Image& i) { i.tree.mutable_processes(2)->set_pgid(0); });
  EXPECT_NE(msg.find("group 0 whose leader is not in the tree"), std::string::npos) << msg;
}

TEST(TreeImage, DescendantsAreValidatedLikeTheRoot) {
  std::string msg = refusal([](Image& i) { i.processes[1].process.set_umask(01000); });
  EXPECT_NE(msg.find("image process.img (pid 4243): umask"), std::string::npos) << msg;
}
