#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/show.h"
#include "image_fixture.h"
#include "crc32c.h"
#include "image_frame.h"

using namespace flakelab::engine;
using flakelab::engine::testing::make_valid_image;

namespace {

struct Files {
  std::vector<uint8_t> process;
  std::vector<uint8_t> pages;
};

Files encode(const Image& img) { return {encode_process_file(img.root().process), encode_pages_file(img.root().pages)}; }

std::vector<uint8_t> reframe_process(const pb::Process& p, uint32_t version = kImageFormatVersion) {
  std::string bytes;
  p.SerializeToString(&bytes);
  return detail::frame(detail::kProcessMagic, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, version);
}

// Decodes and returns the ImageError text; fails the test if decoding succeeds.
std::string decode_error(const Files& f) {
  try {
    decode_image(f.process, f.pages);
  } catch (const ImageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "decoding succeeded";
  return "";
}

// Applies `mutate` to a valid image's metadata, re-encodes it with a correct
// checksum, and returns the error.
std::string semantic_error(const std::function<void(Image&)>& mutate) {
  Image img = make_valid_image();
  mutate(img);
  Files f = encode(img);
  return decode_error(f);
}

void expect_names(const std::string& msg, const std::string& file, const std::string& field) {
  EXPECT_NE(msg.find("image " + file), std::string::npos) << msg;
  EXPECT_NE(msg.find(field), std::string::npos) << msg;
}

}  // namespace

TEST(ImageFormat, RoundTripsInMemory) {
  Image img = make_valid_image();
  Files f = encode(img);
  Image back = decode_image(f.process, f.pages);
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
  EXPECT_EQ(back.root().pages, img.root().pages);
}

TEST(ImageFormat, VersionOneReadsIntoATreeOfOne) {
  Image back = decode_image(encode(make_valid_image()).process, encode(make_valid_image()).pages);
  ASSERT_EQ(back.processes.size(), 1u);
  EXPECT_EQ(&back.root(), &back.processes[0]);
  EXPECT_EQ(back.tree.processes_size(), 0) << "no tree record is made up for a version 1 image";
}

TEST(ImageFormat, AnImageWithoutProcessesIsRefused) {
  try {
    validate_image(Image{});
    ADD_FAILURE() << "an image without processes was accepted";
  } catch (const ImageError& e) {
    expect_names(e.what(), "process.img", "processes");
  }
}

TEST(ImageFormat, RoundTripsThroughDirectory) {
  flakelab::base::TempDir dir("/tmp", "flk-image-");
  Image img = make_valid_image();
  write_image_dir(img, dir.path() + "/img");
  Image back = read_image_dir(dir.path() + "/img");
  EXPECT_EQ(back.root().process.SerializeAsString(), img.root().process.SerializeAsString());
  EXPECT_EQ(back.root().pages, img.root().pages);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/img/process.img.tmp"));
}

TEST(ImageFormat, MissingFileNamesThePath) {
  flakelab::base::TempDir dir("/tmp", "flk-image-");
  try {
    read_image_dir(dir.path());
    FAIL();
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/process.img"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ENOENT"), std::string::npos) << e.what();
  }
}

TEST(ImageCorruption, TruncatedHeader) {
  Files f = encode(make_valid_image());
  f.process.resize(10);
  expect_names(decode_error(f), "process.img", "header");
  f = encode(make_valid_image());
  f.pages.clear();
  expect_names(decode_error(f), "pages.img", "header");
}

TEST(ImageCorruption, TruncatedPayload) {
  Files f = encode(make_valid_image());
  f.process.pop_back();
  std::string msg = decode_error(f);
  expect_names(msg, "process.img", "payload_len");
  EXPECT_NE(msg.find("truncated"), std::string::npos);
  f = encode(make_valid_image());
  f.pages.resize(f.pages.size() - 4096);
  expect_names(decode_error(f), "pages.img", "payload_len");
}

TEST(ImageCorruption, TrailingBytes) {
  Files f = encode(make_valid_image());
  f.pages.push_back(0);
  expect_names(decode_error(f), "pages.img", "trailing");
}

TEST(ImageCorruption, FlippedPayloadByte) {
  Files f = encode(make_valid_image());
  f.process[detail::kHeaderSize + 3] ^= 0x10;
  expect_names(decode_error(f), "process.img", "payload_crc");
  f = encode(make_valid_image());
  f.pages[f.pages.size() - 100] ^= 1;
  expect_names(decode_error(f), "pages.img", "payload_crc");
}

TEST(ImageCorruption, FlippedHeaderByte) {
  for (size_t i = 8; i < detail::kHeaderSize; ++i) {
    Files f = encode(make_valid_image());
    f.process[i] ^= 0x04;
    expect_names(decode_error(f), "process.img", "header_crc");
  }
}

TEST(ImageCorruption, WrongMagic) {
  Files f = encode(make_valid_image());
  f.process[0] = 'X';
  expect_names(decode_error(f), "process.img", "magic");
  Files swapped = encode(make_valid_image());
  std::swap(swapped.process, swapped.pages);
  expect_names(decode_error(swapped), "process.img", "magic");
}

TEST(ImageCorruption, WrongVersion) {
  Files f = encode(make_valid_image());
  f.process = reframe_process(make_valid_image().root().process, kPageAlignedFormatVersion + 1);
  std::string msg = decode_error(f);
  expect_names(msg, "process.img", "version");
  EXPECT_NE(msg.find("format version 4 is not supported"), std::string::npos) << msg;
}

TEST(ImageCorruption, AbsurdPayloadLength) {
  // A header with a valid header checksum that claims 2^60 payload bytes.
  Files f = encode(make_valid_image());
  std::vector<uint8_t> pages = detail::frame(detail::kPagesMagic, {}, kImageFormatVersion);
  uint64_t huge = 1ull << 60;
  std::memcpy(pages.data() + 16, &huge, 8);
  uint32_t header_crc = crc32c(pages.data(), 28);
  std::memcpy(pages.data() + 28, &header_crc, 4);
  f.pages = pages;
  std::string msg = decode_error(f);
  expect_names(msg, "pages.img", "payload_len");
  EXPECT_NE(msg.find("exceeds the limit"), std::string::npos) << msg;
}

TEST(ImageCorruption, GarbageProtobufWithValidChecksum) {
  Files f = encode(make_valid_image());
  std::vector<uint8_t> garbage = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07};
  f.process = detail::frame(detail::kProcessMagic, garbage, kImageFormatVersion);
  expect_names(decode_error(f), "process.img", "payload");
}

TEST(ImageCorruption, PagesSizeDisagreesWithRuns) {
  Files f = encode(make_valid_image());
  std::vector<uint8_t> fewer(4096, 1);
  f.pages = encode_pages_file(fewer);
  expect_names(decode_error(f), "pages.img", "payload_len");
  expect_names(semantic_error([](Image& i) { i.root().process.set_pages_bytes(4096); }), "process.img", "pages_bytes");
}

TEST(ImageValidation, AddressesOutsideUserRange) {
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(2)->set_end(0xffff800000001000ull); }),
               "process.img", "vmas[2].end");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_threads(0)->mutable_gp()->set_rip(0xffffffff81000000ull); }),
               "process.img", "threads[0].gp.rip");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_mm()->set_brk(0x800000000000ull); }), "process.img",
               "mm.brk");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pages(0)->set_vaddr(0xfffffffffffff000ull); }),
               "process.img", "pages[0]");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(0)->set_start(0); }), "process.img",
               "vmas[0].start");
}

TEST(ImageValidation, MalformedMappings) {
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(1)->set_start(0x500010); }), "process.img",
               "vmas[1].start");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(1)->set_start(0x401000); }), "process.img",
               "overlaps");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(1)->set_end(0x500000); }), "process.img",
               "vmas[1].end");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(1)->set_prot(0x80); }), "process.img",
               "vmas[1].prot");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(1)->set_kind(static_cast<pb::VmaKind>(99)); }),
               "process.img", "vmas[1].kind");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(0)->set_path("relative/path"); }),
               "process.img", "vmas[0].path");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_vmas(0)->set_path(std::string("/a\0b", 4)); }),
               "process.img", "NUL");
  expect_names(semantic_error([](Image& i) { *i.root().process.add_vmas() = i.root().process.vmas(3); }), "process.img", "vmas[4]");
}

TEST(ImageValidation, PageRunsOutsideMappings) {
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pages(0)->set_nr_pages(5); }), "process.img",
               "not inside one mapping");
  expect_names(semantic_error([](Image& i) {
                 i.root().process.mutable_pages(1)->set_vaddr(0x7fff00000000);  // the vDSO
               }),
               "process.img", "VMA_VDSO");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pages(1)->set_vaddr(0x500000); }), "process.img",
               "pages[1].vaddr");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pages(0)->set_nr_pages(0); }), "process.img",
               "pages[0].nr_pages");
}

TEST(ImageValidation, AbsurdCounts) {
  expect_names(semantic_error([](Image& i) {
                 for (int k = 0; k < 70000; ++k) i.root().process.add_rlimits();
               }),
               "process.img", "rlimits");
  expect_names(semantic_error([](Image& i) {
                 auto t = i.root().process.threads(0);
                 *i.root().process.add_threads() = t;
               }),
               "process.img", "threads");
  expect_names(semantic_error([](Image& i) { i.root().process.clear_vmas(); }), "process.img", "vmas");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_threads(0)->set_xstate(std::string(100000, 'x')); }),
               "process.img", "threads[0].xstate");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_mm()->set_auxv(std::string(8192, 'a')); }),
               "process.img", "mm.auxv");
}

TEST(ImageValidation, BadScalars) {
  expect_names(semantic_error([](Image& i) { i.root().process.set_pid(0); }), "process.img", "pid");
  expect_names(semantic_error([](Image& i) { i.root().process.set_comm("a-name-longer-than-15"); }), "process.img", "comm");
  expect_names(semantic_error([](Image& i) { i.root().process.set_cwd("tmp"); }), "process.img", "cwd");
  expect_names(semantic_error([](Image& i) { i.root().process.set_umask(01000); }), "process.img", "umask");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_sigactions(0)->set_signo(65); }), "process.img",
               "sigactions[0].signo");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_rlimits(0)->set_cur(1u << 20); }), "process.img",
               "rlimits[0].cur");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_threads(0)->mutable_gp()->set_cs(0x10); }),
               "process.img", "threads[0].gp.cs");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_threads(0)->set_tid(1); }), "process.img",
               "threads[0].tid");
  expect_names(semantic_error([](Image& i) { i.root().process.clear_mm(); }), "process.img", "mm");
}

TEST(ImageValidation, BadFilesAndFds) {
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_fds(1)->set_file(3); }), "process.img", "fds[1].file");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_fds(1)->set_fd(3); }), "process.img", "fds[1].fd");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_fds(0)->set_fd(1u << 30); }), "process.img",
               "fds[0].fd");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(0)->set_flags(0100); }),  // O_CREAT
               "process.img", "files[0].flags");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(0)->set_path("data"); }), "process.img",
               "files[0].path");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(0)->set_kind(pb::FILE_UNKNOWN); }),
               "process.img", "files[0].kind");
}

TEST(ImageValidation, BadPendingSignals) {
  auto add = [](Image& i, uint32_t signo, size_t size, int32_t si_signo) {
    auto* s = i.root().process.add_shared_pending();
    s->set_signo(signo);
    std::string info(size, '\0');
    if (size >= 4) std::memcpy(info.data(), &si_signo, 4);
    s->set_siginfo(info);
  };
  expect_names(semantic_error([&](Image& i) { add(i, 0, 128, 0); }), "process.img", "shared_pending[0].signo");
  expect_names(semantic_error([&](Image& i) { add(i, 10, 64, 10); }), "process.img", "shared_pending[0].siginfo");
  expect_names(semantic_error([&](Image& i) { add(i, 10, 128, 12); }), "process.img", "shared_pending[0].siginfo");
  expect_names(semantic_error([&](Image& i) {
                 auto* s = i.root().process.mutable_threads(0)->add_pending();
                 s->set_signo(99);
               }),
               "process.img", "threads[0].pending[0].signo");
}

TEST(ImageValidation, BadPipes) {
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pipes(0)->set_data(std::string(70000, 'x')); }),
               "process.img", "pipes[0].data");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_pipes(0)->set_capacity(5000); }), "process.img",
               "pipes[0].capacity");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(2)->set_flags(0); }), "process.img",
               "files[2].pipe_id");  // two read ends
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(1)->set_pipe_id(778); }), "process.img",
               "files[1].pipe_id");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_files(1)->set_flags(2); }), "process.img",
               "files[1].flags");
  expect_names(semantic_error([](Image& i) { *i.root().process.add_pipes() = i.root().process.pipes(0); }), "process.img",
               "pipes[1].id");
}

TEST(ImageValidation, ThreadLimitsAndUniqueTids) {
  expect_names(semantic_error([](Image& i) {
                 for (uint64_t k = 0; k < ImageLimits::kMaxThreads; ++k) {
                   auto* t = i.root().process.add_threads();
                   *t = i.root().process.threads(0);
                   t->set_tid(static_cast<uint32_t>(10000 + k));
                 }
               }),
               "process.img", "threads");
  expect_names(semantic_error([](Image& i) { *i.root().process.add_threads() = i.root().process.threads(0); }), "process.img",
               "threads[1].tid");
  expect_names(semantic_error([](Image& i) { i.root().process.mutable_threads(0)->set_clear_child_tid(1ull << 50); }),
               "process.img", "threads[0].clear_child_tid");
}

TEST(ImageShow, TextSummaryNamesTheEssentials) {
  std::string text = show_image_text(make_valid_image());
  for (const char* want : {"process 4242 \"victim\"", "exe /usr/bin/true", "tid 4242", "VMA_VDSO", "r-x",
                           "3 -> file 0 /tmp/data", "9 -> file 0", "12288 bytes of page data"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
}

TEST(ImageShow, JsonHasFieldsAndPageSize) {
  std::string json = show_image_json(make_valid_image());
  EXPECT_NE(json.find("\"pid\": 4242"), std::string::npos) << json;
  EXPECT_NE(json.find("\"kind\": \"VMA_FILE_PRIVATE\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"page_data_bytes\": 12288"), std::string::npos) << json;
  EXPECT_NE(json.find("\"path\": \"/usr/bin/true\""), std::string::npos) << "paths as text\n" << json;
  EXPECT_EQ(json.substr(json.size() - 2), "}\n");
}

// protobuf's JSON mapping, as the generated converter (gen_image_json.py) must
// write it: 64-bit integers as strings, defaults left out, a set but empty message
// as {}, an enum number the schema does not know as a number, bytes that are not
// UTF-8 as base64 (names and paths that are, as text).
TEST(ImageShow, JsonFollowsProtobufsMapping) {
  Image img = make_valid_image();
  auto* v = img.root().process.mutable_vmas(0);
  v->set_kind(static_cast<pb::VmaKind>(77));
  v->set_pgoff(UINT64_MAX);
  v->set_growsdown(false);
  img.root().process.mutable_threads(0)->mutable_gp()->Clear();
  img.root().process.set_cwd(std::string("\xff\xfe/x", 4));
  auto doc = nlohmann::json::parse(show_image_json(img));
  const auto& vma = doc["vmas"][0];
  EXPECT_EQ(vma["kind"], 77) << vma;
  EXPECT_EQ(vma["pgoff"], "18446744073709551615") << vma;
  EXPECT_FALSE(vma.contains("growsdown")) << vma;
  EXPECT_EQ(doc["threads"][0]["gp"], nlohmann::json::object()) << doc["threads"][0];
  EXPECT_EQ(doc["cwd"], "//4veA==") << "non-UTF-8 bytes stay base64";
  EXPECT_EQ(doc["pid"], 4242);
  EXPECT_EQ(doc["comm"], "victim");
  EXPECT_FALSE(doc.contains("stopped")) << "false is the default";
}

// Deterministic mutation testing of the decoder (the libFuzzer target in
// engine/fuzz covers the same entry point without a bound). Every outcome must be
// success or ImageError; anything else (another exception, a crash, a sanitizer
// report) fails.
TEST(ImageMutation, RandomMutationsNeverCrash) {
  const Image base = make_valid_image();
  const Files good = encode(base);
  std::string meta;
  base.root().process.SerializeToString(&meta);
  std::mt19937_64 rng(20261123);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Files f = good;
    std::vector<uint8_t> payload(meta.begin(), meta.end());
    int mode = static_cast<int>(rng() % 4);
    int edits = 1 + static_cast<int>(rng() % 8);
    std::vector<uint8_t>& target = mode == 0 ? f.process : mode == 1 ? f.pages : payload;
    for (int e = 0; e < edits && !target.empty(); ++e) {
      size_t pos = rng() % target.size();
      switch (rng() % 5) {
        case 0: target[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: target[pos] = static_cast<uint8_t>(rng()); break;
        case 2: target.resize(pos); break;
        case 3: target.insert(target.begin() + static_cast<long>(pos), static_cast<uint8_t>(rng())); break;
        case 4: target[pos] = 0xff; break;
      }
    }
    // Mode 2/3 re-seal the mutated protobuf so the schema and validator see it.
    if (mode >= 2) f.process = detail::frame(detail::kProcessMagic, payload, kImageFormatVersion);
    try {
      decode_image(f.process, f.pages);
      ++accepted;
    } catch (const ImageError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 10000);
  RecordProperty("accepted", accepted);
}
