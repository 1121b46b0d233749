// Image directories on disk. Version 1 and 2 pages are read straight into the
// image buffer (not through a framed copy); version 3 pages are mapped from the
// file and checked there. Either way every corruption of pages.img must be
// caught, naming the file and the field, and large images round-trip.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "crc32c.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "image_dir.h"
#include "mapped_file.h"
#include "pages_file_writer.h"
#include "sigbus_guard.h"
#include "image_fixture.h"
#include "image_frame.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;
using flakelab::engine::testing::make_valid_tree_image;

namespace {

namespace fs = std::filesystem;

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void set_file_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Sets header field `at` (a u32) and fixes the header checksum after it.
void set_header_u32(std::vector<char>& b, size_t at, uint32_t value) {
  std::memcpy(b.data() + at, &value, 4);
  uint32_t header_crc = crc32c(b.data(), 28);
  std::memcpy(b.data() + 28, &header_crc, 4);
}

// Parameter: the image is a tree (format version 3, mapped pages) or not
// (version 1, pages read into memory).
class ImageDir : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    write_image_dir(GetParam() ? make_valid_tree_image() : make_valid_image(), dir_);
  }

  size_t header_size() const { return GetParam() ? 4096 : 32; }

  // read_image_dir's ImageError after `mutate` changed pages.img.
  std::string error_after(const std::function<void(std::vector<char>&)>& mutate) {
    auto bytes = file_bytes(dir_ + "/pages.img");
    mutate(bytes);
    set_file_bytes(dir_ + "/pages.img", bytes);
    try {
      read_image_dir(dir_);
    } catch (const ImageError& e) {
      EXPECT_EQ(e.file(), dir_ + "/pages.img");
      return e.field();
    }
    ADD_FAILURE() << "the corrupted directory was accepted";
    return "";
  }

  const flakelab::base::TempDir tmp_{"/tmp", "flk-imgdir-"};
  const std::string dir_ = tmp_.path();
};

INSTANTIATE_TEST_SUITE_P(Versions, ImageDir, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "V3Tree" : "V1Single"; });

TEST_P(ImageDir, RoundTrip) {
  Image back = read_image_dir(dir_);
  EXPECT_EQ(back.root().pages, make_valid_image().root().pages);
  EXPECT_EQ(back.root().pages.is_view(), GetParam());  // version 3: the file's pages, mapped
  EXPECT_EQ(fs::file_size(dir_ + "/pages.img"), header_size() + back.root().pages.size());
}

TEST_P(ImageDir, TruncatedHeader) {
  EXPECT_EQ(error_after([](auto& b) { b.resize(20); }), "header");
}

TEST_P(ImageDir, EmptyFile) {
  EXPECT_EQ(error_after([](auto& b) { b.clear(); }), "header");
}

TEST_P(ImageDir, TruncatedPayload) {
  EXPECT_EQ(error_after([](auto& b) { b.pop_back(); }), "payload_len");
}

TEST_P(ImageDir, TrailingBytes) {
  EXPECT_EQ(error_after([](auto& b) { b.push_back('x'); }), "payload_len");
}

TEST_P(ImageDir, FlippedPayloadByte) {
  EXPECT_EQ(error_after([](auto& b) { b[b.size() / 2] ^= 0x10; }), "payload_crc");
  EXPECT_EQ(error_after([](auto& b) { b[b.size() - 1] ^= 0x10; }), "payload_crc");
}

TEST_P(ImageDir, WrongMagic) {
  EXPECT_EQ(error_after([](auto& b) { b[0] = 'X'; }), "magic");
}

TEST_P(ImageDir, FlippedHeaderByte) {
  EXPECT_EQ(error_after([](auto& b) { b[17] ^= 1; }), "header_crc");
}

TEST_P(ImageDir, PayloadOffsetOtherThanTheVersionsIsRefused) {
  // Misaligned, short of the header, and absurd; each with a valid header checksum.
  for (uint32_t offset : {uint32_t{4095}, uint32_t{100}, uint32_t{8192}, uint32_t{0xffffffff}}) {
    if (offset == header_size()) continue;
    EXPECT_EQ(error_after([&](auto& b) { set_header_u32(b, 12, offset); }), "header_size") << offset;
    write_image_dir(GetParam() ? make_valid_tree_image() : make_valid_image(), dir_);
  }
}

// Issue 16 point 5: `show` and `restore` read image files through here; a FIFO
// (or any non-regular file) in place of one is an error at once, never a read
// that waits for a writer.
TEST_P(ImageDir, AFifoInPlaceOfAnImageFileIsRefusedAtOnce) {
  for (const char* name : {"process.img", "pages.img"}) {
    write_image_dir(GetParam() ? make_valid_tree_image() : make_valid_image(), dir_);
    const std::string path = dir_ + "/" + name;
    ASSERT_EQ(unlink(path.c_str()), 0);
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    try {
      read_image_dir(dir_);
      ADD_FAILURE() << "a FIFO was read as " << name;
    } catch (const EngineError& e) {
      EXPECT_NE(std::string(e.what()).find(path + ": not a regular file (a FIFO)"), std::string::npos) << e.what();
    }
    ASSERT_EQ(unlink(path.c_str()), 0);
  }
  // Writing over a FIFO left at the temporary name fails too instead of waiting for a reader.
  ASSERT_EQ(mkfifo((dir_ + "/process.img.tmp").c_str(), 0600), 0);
  EXPECT_THROW(write_image_dir(make_valid_image(), dir_), EngineError);
}

TEST(ImageDirV3, NonZeroHeaderPaddingIsRefused) {
  const flakelab::base::TempDir tmp("/tmp", "flk-imgdir-");
  const std::string dir = tmp.path();
  write_image_dir(make_valid_tree_image(), dir);
  auto bytes = file_bytes(dir + "/pages.img");
  bytes[1000] = 1;
  set_file_bytes(dir + "/pages.img", bytes);
  try {
    read_image_dir(dir);
    ADD_FAILURE() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "header_padding") << e.what();
    EXPECT_NE(std::string(e.what()).find("byte 1000"), std::string::npos) << e.what();
  }
  // Cut inside the padding: the header itself is truncated.
  bytes.resize(2000);
  set_file_bytes(dir + "/pages.img", bytes);
  try {
    read_image_dir(dir);
    ADD_FAILURE() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "header") << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 4096"), std::string::npos) << e.what();
  }
}

TEST(ImageDirV2, VersionTwoDirectoriesStayReadable) {
  // What a build before version 3 wrote: 32-byte headers, payloads as now.
  Image img = make_valid_tree_image();
  auto [process, pages] = encode_image_files(img);
  const flakelab::base::TempDir tmp("/tmp", "flk-imgdir-");
  const std::string dir = tmp.path();
  auto put = [&](const char* name, const std::vector<uint8_t>& v3, size_t header) {
    std::span<const uint8_t> payload(v3.data() + header, v3.size() - header);
    auto v2 = detail::frame(name == std::string("pages.img") ? detail::kPagesMagic : detail::kProcessMagic, payload,
                            kTreeFormatVersion);
    set_file_bytes(dir + "/" + name, std::vector<char>(v2.begin(), v2.end()));
  };
  put("process.img", process, detail::kHeaderSize);
  put("pages.img", pages, 4096);
  Image back = read_image_dir(dir);
  EXPECT_EQ(back.root().pages, img.root().pages);
  EXPECT_FALSE(back.root().pages.is_view());
  EXPECT_EQ(back.tree.processes_size(), 1);
}

TEST(ImageDir, ANewDumpNeverMeetsAnOldProcessFile) {
  // The old process file goes before the new pages file takes its place.
  const flakelab::base::TempDir tmp("/tmp", "flk-imgdir-");
  const std::string dir = tmp.path();
  write_image_dir(make_valid_tree_image(), dir);
  fs::remove(dir + "/pages.img");
  fs::create_directory(dir + "/pages.img");  // makes the rename of the new pages fail
  EXPECT_THROW(write_image_dir(make_valid_tree_image(), dir), EngineError);
  EXPECT_FALSE(fs::exists(dir + "/process.img"));
  EXPECT_FALSE(fs::exists(dir + "/pages.img.tmp"));
}

TEST(MappedCrc, AFileTruncatedUnderTheMappingIsAFailureNotACrash) {
  char tmpl[] = "/tmp/flk-mapped-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> bytes(65536, 7);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  {
    MappedFile map(fd, bytes.size(), tmpl);
    uint32_t crc = 0;
    ASSERT_TRUE(mapped_crc32c(map.data(), bytes.size(), &crc));
    EXPECT_EQ(crc, crc32c(bytes.data(), bytes.size()));
    ASSERT_EQ(ftruncate(fd, 4096), 0);  // another process cuts the file
    EXPECT_FALSE(mapped_crc32c(map.data(), bytes.size(), &crc));
    EXPECT_TRUE(mapped_crc32c(map.data(), 4096, &crc));
  }
  close(fd);
  unlink(tmpl);
}

// The fixture's stack mapping grown to 64 MiB, every page present; a tree or not.
Image large_image(bool tree) {
  Image img = tree ? make_valid_tree_image() : make_valid_image();
  constexpr uint64_t kSize = 64 << 20;
  auto* v = img.root().process.mutable_vmas(2);
  uint64_t start = v->start();
  v->set_end(start + kSize);
  img.root().process.clear_pages();
  auto* run = img.root().process.add_pages();
  run->set_vaddr(start);
  run->set_nr_pages(kSize / 4096);
  img.root().process.set_pages_bytes(kSize);
  img.root().pages.resize(kSize);
  for (size_t i = 0; i < kSize; i += 8) img.root().pages[i] = static_cast<uint8_t>(i >> 12);
  return img;
}

class ImageDirLarge : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Versions, ImageDirLarge, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "V3Tree" : "V1Single"; });

TEST_P(ImageDirLarge, SixtyFourMiBOfPagesRoundTrip) {
  constexpr uint64_t kSize = 64 << 20;
  Image img = large_image(GetParam());
  ASSERT_NO_THROW(validate_image(img));
  const flakelab::base::TempDir tmp("/tmp", "flk-imgbig-");
  const std::string dir = tmp.path();
  write_image_dir(img, dir);
  {
    Image back = read_image_dir(dir);
    ASSERT_EQ(back.root().pages.size(), img.root().pages.size());
    EXPECT_TRUE(back.root().pages == img.root().pages);
    EXPECT_EQ(back.root().pages.is_view(), GetParam());
  }
  // Large payloads are checksummed in pieces (beside the read, or on several
  // threads over the mapping): a byte flipped in a middle piece, one in the
  // last, and a cut file are all still caught.
  const std::string pages = dir + "/pages.img";
  const std::streamoff header = GetParam() ? 4096 : 32;
  auto field_after = [&](const std::function<void(std::fstream&)>& mutate) -> std::string {
    write_image_dir(img, dir);
    {
      std::fstream f(pages, std::ios::in | std::ios::out | std::ios::binary);
      mutate(f);
    }
    try {
      read_image_dir(dir);
    } catch (const ImageError& e) {
      return e.field();
    }
    return "accepted";
  };
  auto flip_at = [](std::streamoff at) {
    return [at](std::fstream& f) {
      f.seekg(at);
      char c = static_cast<char>(f.get());
      f.seekp(at);
      f.put(static_cast<char>(c ^ 0x40));
    };
  };
  EXPECT_EQ(field_after(flip_at(header + (40 << 20) + 5)), "payload_crc");
  EXPECT_EQ(field_after(flip_at(header + (32 << 20))), "payload_crc");  // where the pieces meet
  EXPECT_EQ(field_after(flip_at(header + kSize - 1)), "payload_crc");
  write_image_dir(img, dir);
  fs::resize_file(pages, fs::file_size(pages) - 4096);
  try {
    read_image_dir(dir);
    ADD_FAILURE() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_EQ(e.field(), "payload_len") << e.what();
  }
}

}  // namespace

// PagesFileWriter over an earlier dump's pages.img: rewritten in place only when
// nobody else can see the old file.
class PagesRewrite : public ::testing::Test {
 protected:
  void write_pages(uint8_t fill, size_t n_pages) {
    std::vector<uint8_t> bytes(n_pages * 4096, fill);
    PagesFileWriter w(dir_);
    w.put(0, bytes);
    w.finish(bytes.size());
  }
  ino_t inode(const std::string& name) const {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ + "/" + name).c_str(), &st), 0) << name;
    return st.st_ino;
  }
  // The payload after the 4 KiB header, which must be `n_pages` of `fill`.
  void expect_payload(const std::string& name, uint8_t fill, size_t n_pages) const {
    auto b = file_bytes(dir_ + "/" + name);
    ASSERT_EQ(b.size(), 4096 + n_pages * 4096) << name;
    for (size_t i = 4096; i < b.size(); ++i)
      ASSERT_EQ(static_cast<uint8_t>(b[i]), fill) << name << " byte " << i;
  }

  const flakelab::base::TempDir tmp_{"/tmp", "flk-rewrite-"};
  const std::string dir_ = tmp_.path();
};

TEST_F(PagesRewrite, AnEarlierDumpsFileIsRewrittenInPlaceAndCutToSize) {
  write_pages('a', 3);
  ino_t before = inode("pages.img");
  std::ofstream(dir_ + "/process.img") << "an earlier dump's metadata";
  write_pages('b', 2);
  EXPECT_EQ(inode("pages.img"), before) << "the file was not reused";
  expect_payload("pages.img", 'b', 2);
  EXPECT_FALSE(fs::exists(dir_ + "/process.img")) << "old metadata met new pages";
  EXPECT_FALSE(fs::exists(dir_ + "/pages.img.tmp"));
}

TEST_F(PagesRewrite, AFileWithAnotherNameIsLeftAlone) {
  write_pages('a', 3);
  ASSERT_EQ(::link((dir_ + "/pages.img").c_str(), (dir_ + "/kept.img").c_str()), 0);
  write_pages('b', 2);
  EXPECT_NE(inode("pages.img"), inode("kept.img"));
  expect_payload("pages.img", 'b', 2);
  expect_payload("kept.img", 'a', 3);
}

TEST_F(PagesRewrite, AnImageSomeoneStillReadsIsLeftAlone) {
  Image original = make_valid_tree_image();  // version 3: its pages stay mapped from the file
  write_image_dir(original, dir_);
  ino_t before = inode("pages.img");
  Image held = read_image_dir(dir_);
  ASSERT_TRUE(held.root().pages.is_view());
  write_pages('b', 2);
  EXPECT_NE(inode("pages.img"), before) << "rewrote a file a reader maps";
  EXPECT_EQ(held.root().pages, original.root().pages);
  expect_payload("pages.img", 'b', 2);
}

TEST_F(PagesRewrite, TheImageADumpReturnsKeepsItsFile) {
  std::vector<uint8_t> first(2 * 4096, 'a');
  PageBytes view;
  {
    PagesFileWriter w(dir_);
    w.put(0, first);
    view = w.view(0, first.size());
    w.finish(first.size());
  }
  write_pages('b', 2);
  ASSERT_EQ(view.size(), first.size());
  EXPECT_EQ(std::memcmp(view.data(), first.data(), first.size()), 0)
      << "a later dump rewrote the pages an earlier dump's image maps";
}

TEST_F(PagesRewrite, ARewriteThatFailsLeavesNoImageBehind) {
  write_pages('a', 3);
  std::ofstream(dir_ + "/process.img") << "an earlier dump's metadata";
  {
    PagesFileWriter w(dir_);
    std::vector<uint8_t> some(4096, 'b');
    w.put(0, some);
  }  // destroyed unfinished: the dump failed
  EXPECT_FALSE(fs::exists(dir_ + "/pages.img"));
  EXPECT_FALSE(fs::exists(dir_ + "/pages.img.tmp"));
  EXPECT_FALSE(fs::exists(dir_ + "/process.img"));
}
