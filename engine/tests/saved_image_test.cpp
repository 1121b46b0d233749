// Image rules for saved files (unlinked files, memfds, shared anonymous memory),
// FIFO buffers and one-ended pipes: validation of every new field, `show`.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"
#include "image_frame.h"
#include "saved_image.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;

namespace {

constexpr uint64_t kPage = 4096;

// make_valid_image() plus a memfd (fd 4, and mapped shared twice), shared
// anonymous memory (mapped), an unlinked file (fd 5, mapped private) and a FIFO
// (fds 6 and 7, one per end).
Image make_saved_image() {
  Image img = make_valid_image();
  pb::Process& p = img.root().process;
  auto add_saved = [&](uint32_t id, pb::SavedFileKind kind, const std::string& path, uint64_t size) {
    auto* f = p.add_saved_files();
    f->set_id(id);
    f->set_kind(kind);
    f->set_path(path);
    f->set_mode(kind == pb::SAVED_UNLINKED ? 0640 : 0777);
    f->set_size(size);
    auto* run = f->add_data();
    run->set_offset(0);
    run->set_data("contents");
    return f;
  };
  add_saved(1, pb::SAVED_MEMFD, "flk", 2 * kPage)->set_seals(F_SEAL_GROW);
  add_saved(2, pb::SAVED_SHARED_ANON, "", 4 * kPage);
  auto* u = add_saved(3, pb::SAVED_UNLINKED, "/tmp/gone", 3 * kPage);
  auto* tail = u->add_data();
  tail->set_offset(2 * kPage);
  tail->set_data("tail");
  auto add_file = [&](pb::FileKind kind, const std::string& path, uint32_t flags) {
    auto* f = p.add_files();
    f->set_kind(kind);
    f->set_path(path);
    f->set_flags(flags);
    f->set_inode(77);
    return f;
  };
  auto add_fd = [&](uint32_t fd) {
    auto* d = p.add_fds();
    d->set_fd(fd);
    d->set_file(static_cast<uint32_t>(p.files_size() - 1));
  };
  add_file(pb::FILE_SAVED, "/memfd:flk (deleted)", O_RDWR)->set_saved_file(1);
  add_fd(4);
  add_file(pb::FILE_SAVED, "/tmp/gone (deleted)", O_RDONLY)->set_saved_file(3);
  add_fd(5);
  add_file(pb::FILE_FIFO, "/tmp/fifo", O_RDONLY | O_NONBLOCK)->set_fifo_id(1);
  add_fd(6);
  add_file(pb::FILE_FIFO, "/tmp/fifo", O_WRONLY)->set_fifo_id(1);
  add_fd(7);
  auto* fifo = p.add_fifos();
  fifo->set_id(1);
  fifo->set_capacity(65536);
  fifo->set_data("queued");
  // Between the heap (ends 0x504000) and the stack (0x7ffd00000000).
  auto add_vma = [&](uint64_t start, uint64_t pages, pb::VmaKind kind, uint32_t saved, const std::string& path) {
    auto* v = p.add_vmas();
    v->set_start(start);
    v->set_end(start + pages * kPage);
    v->set_prot(3);
    v->set_kind(kind);
    v->set_path(path);
    v->set_saved_file(saved);
    v->set_maywrite(true);
  };
  add_vma(0x600000, 2, pb::VMA_SAVED_SHARED, 1, "/memfd:flk (deleted)");
  add_vma(0x602000, 1, pb::VMA_SAVED_SHARED, 1, "/memfd:flk (deleted)");
  add_vma(0x700000, 4, pb::VMA_SAVED_SHARED, 2, "/dev/zero (deleted)");
  add_vma(0x800000, 1, pb::VMA_FILE_PRIVATE, 3, "/tmp/gone (deleted)");
  // Keep vmas sorted by address.
  auto* vmas = p.mutable_vmas();
  std::sort(vmas->begin(), vmas->end(), [](const pb::Vma& a, const pb::Vma& b) { return a.start() < b.start(); });
  return img;
}

std::string error_of(const std::function<void(Image&)>& mutate) {
  Image img = make_saved_image();
  mutate(img);
  try {
    validate_image(img);
  } catch (const ImageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "validation succeeded";
  return "";
}

void expect_field(const std::function<void(Image&)>& mutate, const std::string& field, const std::string& problem = "") {
  std::string msg = error_of(mutate);
  EXPECT_NE(msg.find("image process.img: " + field + ": "), std::string::npos) << msg;
  if (!problem.empty()) {
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
  }
}

pb::SavedFile& saved(Image& i, int k) { return *i.root().process.mutable_saved_files(k); }
int vma_of(const Image& i, uint32_t saved) {
  for (int k = 0; k < i.root().process.vmas_size(); ++k)
    if (i.root().process.vmas(k).saved_file() == saved) return k;
  return -1;
}

}  // namespace

TEST(SavedImage, ValidImageRoundTripsAndValidates) {
  Image img = make_saved_image();
  validate_image(img);
  Image back = decode_image(encode_process_file(img.root().process), encode_pages_file(img.root().pages));
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
}

TEST(SavedImage, BadSavedFiles) {
  expect_field([](Image& i) { saved(i, 0).set_id(0); }, "saved_files[0].id", "must not be 0");
  expect_field([](Image& i) { saved(i, 1).set_id(1); }, "saved_files[1].id", "appears twice");
  expect_field([](Image& i) { saved(i, 0).set_kind(pb::SAVED_UNKNOWN); }, "saved_files[0].kind");
  expect_field([](Image& i) { saved(i, 0).set_kind(static_cast<pb::SavedFileKind>(42)); }, "saved_files[0].kind");
  expect_field([](Image& i) { saved(i, 0).set_mode(010777); }, "saved_files[0].mode");
  expect_field([](Image& i) { saved(i, 0).set_size(SavedFileLimits::kMaxFileSize + 1); }, "saved_files[0].size");
  expect_field([](Image& i) { saved(i, 0).set_path(std::string(250, 'n')); }, "saved_files[0].path", "too long");
  expect_field([](Image& i) { saved(i, 0).set_path(std::string("a\0b", 3)); }, "saved_files[0].path", "NUL");
  expect_field([](Image& i) { saved(i, 0).set_seals(0x100); }, "saved_files[0].seals", "unknown bits");
  expect_field([](Image& i) { saved(i, 1).set_path("/dev/zero"); }, "saved_files[1].path");
  expect_field([](Image& i) { saved(i, 1).set_size(4 * kPage + 1); }, "saved_files[1].size");
  expect_field([](Image& i) { saved(i, 1).set_size(0); }, "saved_files[1].size");
  expect_field([](Image& i) { saved(i, 1).set_seals(F_SEAL_GROW); }, "saved_files[1].seals", "only memfds");
  for (const char* bad : {"", "gone", "/", "/tmp/"})
    expect_field([&](Image& i) { saved(i, 2).set_path(bad); }, "saved_files[2].path");
  expect_field([](Image& i) { saved(i, 2).set_path("/" + std::string(ImageLimits::kMaxPath, 'p')); },
               "saved_files[2].path");
}

TEST(SavedImage, BadDataRuns) {
  expect_field([](Image& i) { saved(i, 2).mutable_data(1)->set_data(""); }, "saved_files[2].data[1].data", "empty");
  expect_field([](Image& i) { saved(i, 2).mutable_data(1)->set_offset(3); }, "saved_files[2].data[1].offset",
               "overlaps");
  expect_field([](Image& i) { saved(i, 2).mutable_data(1)->set_offset(3 * kPage - 2); }, "saved_files[2].data[1].offset",
               "beyond the file size");
  expect_field([](Image& i) { saved(i, 2).mutable_data(1)->set_offset(~0ull - 1); }, "saved_files[2].data[1].offset");
  expect_field(
      [](Image& i) {
        auto& f = saved(i, 0);
        f.clear_data();
        f.set_size(1 << 20);
        for (int k = 0; k <= SavedFileLimits::kMaxRuns; ++k) {
          auto* r = f.add_data();
          r->set_offset(static_cast<uint64_t>(k) * 2);
          r->set_data("x");
        }
      },
      "saved_files[0].data", "count");
  expect_field(
      [](Image& i) {
        auto& f = saved(i, 0);
        f.set_size(SavedFileLimits::kMaxFileBytes + 1);
        f.mutable_data(0)->set_data(std::string(SavedFileLimits::kMaxFileBytes + 1, 'x'));
      },
      "saved_files[0].data", "exceed the limit");
  expect_field(
      [](Image& i) {
        // Each within its own limit, together (with the unlinked file's 12 bytes) too much.
        for (int k = 0; k < 2; ++k) {
          auto& f = saved(i, k);
          f.set_size(SavedFileLimits::kMaxFileBytes);
          f.mutable_data(0)->set_data(std::string(SavedFileLimits::kMaxFileBytes, 'x'));
        }
      },
      "saved_files[2].data", "all saved files");
}

TEST(SavedImage, BadReferences) {
  expect_field([](Image& i) { i.root().process.mutable_files(3)->set_saved_file(9); }, "files[3].saved_file", "not in saved_files");
  expect_field([](Image& i) { i.root().process.mutable_files(0)->set_saved_file(1); }, "files[0].saved_file", "FILE_REGULAR");
  expect_field([](Image& i) { i.root().process.mutable_files(0)->set_fifo_id(1); }, "files[0].fifo_id", "FILE_REGULAR");
  expect_field([](Image& i) { i.root().process.mutable_files(3)->set_flags(O_PATH); }, "files[3].flags");
  expect_field([](Image& i) { i.root().process.mutable_files(3)->set_path("memfd:flk"); }, "files[3].path");
  expect_field([](Image& i) { i.root().process.mutable_files(5)->set_fifo_id(2); }, "files[5].fifo_id", "not in fifos");
  expect_field([](Image& i) { i.root().process.mutable_files(6)->set_path("/tmp/other"); }, "files[6].path", "same FIFO");
  expect_field([](Image& i) { i.root().process.mutable_files(6)->set_inode(78); }, "files[6].path", "same FIFO");
  expect_field(
      [](Image& i) {
        auto* f = i.root().process.add_fifos();
        *f = i.root().process.fifos(0);
        f->set_id(2);
        i.root().process.mutable_files(6)->set_fifo_id(2);
      },
      "files[6].fifo_id", "same path");
  expect_field(
      [](Image& i) {
        auto* f = i.root().process.add_fifos();
        *f = i.root().process.fifos(0);
        f->set_id(2);
      },
      "fifos[1].id", "not used");
  // The unlinked file is used by an fd and a mapping: drop both.
  expect_field(
      [](Image& i) {
        i.root().process.mutable_files(4)->set_saved_file(1);
        i.root().process.mutable_vmas(vma_of(i, 3))->set_saved_file(1);
      },
      "saved_files[2].id", "not used");
  expect_field([](Image& i) { i.root().process.mutable_vmas(vma_of(i, 2))->set_saved_file(0); }, "vmas[4].saved_file", "is missing");
  expect_field([](Image& i) { i.root().process.mutable_vmas(vma_of(i, 2))->set_saved_file(7); }, "vmas[4].saved_file",
               "not in saved_files");
  expect_field([](Image& i) { i.root().process.mutable_vmas(1)->set_saved_file(2); }, "vmas[1].saved_file",
               "VMA_ANON_PRIVATE");
  expect_field([](Image& i) { i.root().process.mutable_vmas(vma_of(i, 2))->set_path("dev/zero"); }, "vmas[4].path");
  expect_field([](Image& i) { i.root().process.mutable_vmas(vma_of(i, 2))->set_pgoff(5); }, "vmas[4].pgoff");
}

TEST(SavedImage, NoPageRunsInSharedSavedMappings) {
  expect_field(
      [](Image& i) {
        auto* r = i.root().process.add_pages();
        r->set_vaddr(0x700000);
        r->set_nr_pages(1);
        i.root().process.set_pages_bytes(i.root().process.pages_bytes() + kPage);
        i.root().pages.resize(i.root().pages.size() + kPage);
        auto* runs = i.root().process.mutable_pages();
        std::sort(runs->begin(), runs->end(), [](const pb::PageRun& a, const pb::PageRun& b) { return a.vaddr() < b.vaddr(); });
      },
      "pages[1].vaddr", "VMA_SAVED_SHARED");
}

TEST(SavedImage, BadFifos) {
  expect_field([](Image& i) { i.root().process.mutable_fifos(0)->set_id(0); }, "fifos[0].id");
  expect_field([](Image& i) { i.root().process.mutable_fifos(0)->set_capacity(3000); }, "fifos[0].capacity");
  expect_field([](Image& i) { i.root().process.mutable_fifos(0)->set_capacity(1u << 30); }, "fifos[0].capacity");
  expect_field([](Image& i) { i.root().process.mutable_fifos(0)->set_data(std::string(65537, 'q')); }, "fifos[0].data");
  expect_field([](Image& i) { *i.root().process.add_fifos() = i.root().process.fifos(0); }, "fifos[1].id", "appears twice");
}

TEST(SavedImage, PipeWithOneEndIsValidButNotWithNone) {
  Image img = make_saved_image();
  // Drop the write end (files[2]): the read end alone is a valid one-ended pipe.
  img.root().process.mutable_files(2)->set_kind(pb::FILE_REGULAR);
  img.root().process.mutable_files(2)->set_path("/tmp/data");
  img.root().process.mutable_files(2)->set_pipe_id(0);
  validate_image(img);
  expect_field(
      [](Image& i) {
        for (int k : {1, 2}) {
          i.root().process.mutable_files(k)->set_kind(pb::FILE_REGULAR);
          i.root().process.mutable_files(k)->set_path("/tmp/data");
        }
      },
      "pipes", "has no end");
}

TEST(SavedImage, ShowListsSavedFilesAndFifos) {
  Image img = make_saved_image();
  std::string text = show_image_text(img);
  for (const char* want : {"saved files 3 (28 bytes stored)", "#1 SAVED_MEMFD \"flk\" size 8192 mode 0777 seals 0x4",
                           "#2 SAVED_SHARED_ANON", "#3 SAVED_UNLINKED /tmp/gone size 12288 mode 0640", "2 runs",
                           "fifos 1", "fifo #1 capacity 65536, 6 unread bytes", "6 -> file 5 /tmp/fifo flags 04000",
                           "4 -> file 3 /memfd:flk (deleted)", "VMA_SAVED_SHARED"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  std::string json = show_image_json(img);
  for (const char* want : {"\"saved_files\"", "\"kind\": \"SAVED_MEMFD\"", "\"fifos\"", "\"saved_file\": 1",
                           "\"fifo_id\": 1", "\"kind\": \"FILE_FIFO\""})
    EXPECT_NE(json.find(want), std::string::npos) << want << "\n" << json;
}

// The decoder on mutated images holding the new records: success or ImageError only.
TEST(SavedImage, RandomMutationsNeverCrash) {
  const Image base = make_saved_image();
  std::string meta;
  base.root().process.SerializeToString(&meta);
  const std::vector<uint8_t> pages = encode_pages_file(base.root().pages);
  std::mt19937_64 rng(3003);
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
      decode_image(detail::frame(detail::kProcessMagic, payload, kImageFormatVersion), pages);
    } catch (const ImageError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 2500);
}
