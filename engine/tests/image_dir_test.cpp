// Image directories on disk: the page data is read straight into the image buffer
// (not through a framed copy), so every corruption of pages.img must still be
// caught there, naming the file and the field; and large images round-trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "image_fixture.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;

namespace {

namespace fs = std::filesystem;

class ImageDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flk-imgdir-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write_image_dir(make_valid_image(), dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<char> pages_file() {
    std::ifstream in(dir_ + "/pages.img", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void set_pages_file(const std::vector<char>& bytes) {
    std::ofstream out(dir_ + "/pages.img", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // read_image_dir's ImageError after `mutate` changed pages.img.
  std::string error_after(const std::function<void(std::vector<char>&)>& mutate) {
    auto bytes = pages_file();
    mutate(bytes);
    set_pages_file(bytes);
    try {
      read_image_dir(dir_);
    } catch (const ImageError& e) {
      EXPECT_EQ(e.file(), dir_ + "/pages.img");
      return e.field();
    }
    ADD_FAILURE() << "the corrupted directory was accepted";
    return "";
  }

  std::string dir_;
};

TEST_F(ImageDir, TruncatedHeader) {
  EXPECT_EQ(error_after([](auto& b) { b.resize(20); }), "header");
}

TEST_F(ImageDir, EmptyFile) {
  EXPECT_EQ(error_after([](auto& b) { b.clear(); }), "header");
}

TEST_F(ImageDir, TruncatedPayload) {
  EXPECT_EQ(error_after([](auto& b) { b.resize(b.size() - 1); }), "payload_len");
}

TEST_F(ImageDir, TrailingBytes) {
  EXPECT_EQ(error_after([](auto& b) { b.push_back('x'); }), "payload_len");
}

TEST_F(ImageDir, FlippedPayloadByte) {
  EXPECT_EQ(error_after([](auto& b) { b[b.size() / 2] ^= 0x10; }), "payload_crc");
}

TEST_F(ImageDir, WrongMagic) {
  EXPECT_EQ(error_after([](auto& b) { b[0] = 'X'; }), "magic");
}

TEST_F(ImageDir, FlippedHeaderByte) {
  EXPECT_EQ(error_after([](auto& b) { b[17] ^= 1; }), "header_crc");
}

TEST(ImageDirLarge, SixtyFourMiBOfPagesRoundTrip) {
  Image img = make_valid_image();
  // The fixture's stack mapping grown to 64 MiB, every page present.
  constexpr uint64_t kSize = 64 << 20;
  auto* v = img.process.mutable_vmas(2);
  ASSERT_EQ(v->kind(), pb::VMA_ANON_PRIVATE);
  uint64_t start = v->start();
  v->set_end(start + kSize);
  img.process.clear_pages();
  auto* run = img.process.add_pages();
  run->set_vaddr(start);
  run->set_nr_pages(kSize / 4096);
  img.process.set_pages_bytes(kSize);
  img.pages.resize(kSize);
  for (size_t i = 0; i < kSize; i += 8) img.pages[i] = static_cast<uint8_t>(i >> 12);
  ASSERT_NO_THROW(validate_image(img));
  char tmpl[] = "/tmp/flk-imgbig-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  write_image_dir(img, dir);
  Image back = read_image_dir(dir);
  ASSERT_EQ(back.pages.size(), img.pages.size());
  EXPECT_TRUE(back.pages == img.pages);
  // Large payloads are checksummed chunk by chunk beside the read: a byte flipped
  // in a middle chunk, one in the last, and a cut file are all still caught.
  const std::string pages = dir + "/pages.img";
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
  EXPECT_EQ(field_after(flip_at(32 + (40 << 20) + 5)), "payload_crc");
  EXPECT_EQ(field_after(flip_at(32 + kSize - 1)), "payload_crc");
  write_image_dir(img, dir);
  fs::resize_file(pages, fs::file_size(pages) - 4096);
  EXPECT_THROW(read_image_dir(dir), ImageError);
  fs::remove_all(dir);
}

}  // namespace
