// PageBytes: owned storage behaves like the vector it was; a view of a mapped
// file is shared by copies and slices, and becomes owned storage (a copy) before
// anything writes through it.
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "flakelab/engine/page_bytes.h"

using flakelab::engine::PageBytes;

namespace {

// Stands in for a mapped file: read-only bytes kept alive by a shared owner.
std::shared_ptr<const std::vector<uint8_t>> backing(size_t n) {
  auto v = std::make_shared<std::vector<uint8_t>>(n);
  for (size_t i = 0; i < n; ++i) (*v)[i] = static_cast<uint8_t>(i);
  return v;
}

PageBytes view_of(const std::shared_ptr<const std::vector<uint8_t>>& b) { return PageBytes::view(b, b->data(), b->size()); }

TEST(PageBytes, OwnedStorageIsAByteVector) {
  PageBytes b;
  EXPECT_TRUE(b.empty());
  b.resize(3);
  b[0] = 1, b[1] = 2, b[2] = 3;
  PageBytes c = b;
  c[1] = 9;
  EXPECT_EQ(b[1], 2);
  EXPECT_FALSE(b == c);
  std::span<const uint8_t> s(b);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_FALSE(b.is_view());
}

TEST(PageBytes, CopiesAndSlicesOfAViewShareIt) {
  auto file = backing(64);
  PageBytes v = view_of(file);
  PageBytes copy = v;
  PageBytes part = std::as_const(v).slice(16, 8);
  EXPECT_TRUE(copy.is_view());
  EXPECT_TRUE(part.is_view());
  EXPECT_EQ(std::as_const(copy).data(), file->data());
  EXPECT_EQ(std::as_const(part).data(), file->data() + 16);
  EXPECT_EQ(part.size(), 8u);
  v.resize(10);  // shrinking keeps it a view
  EXPECT_TRUE(v.is_view());
  EXPECT_EQ(v.size(), 10u);
}

TEST(PageBytes, WritingThroughAViewCopiesItFirst) {
  auto file = backing(32);
  PageBytes v = view_of(file);
  v[5] = 200;  // the non-const accessor takes a private copy
  EXPECT_FALSE(v.is_view());
  EXPECT_EQ(v[5], 200);
  EXPECT_EQ((*file)[5], 5);
  EXPECT_EQ(v[6], 6);
  PageBytes w = view_of(file);
  w.resize(40);  // growing too
  EXPECT_FALSE(w.is_view());
  EXPECT_EQ(w[31], 31);
}

TEST(PageBytes, EqualityComparesBytesWhateverTheStorage) {
  auto file = backing(16);
  PageBytes owned;
  owned.assign(file->begin(), file->end());
  EXPECT_TRUE(owned == view_of(file));
  EXPECT_TRUE(PageBytes() == PageBytes());
}

}  // namespace
