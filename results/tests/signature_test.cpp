#include "flakelab/results/signature.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace flakelab::results {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Real messages from CRIU/compel/flakelab logs and their expected normalized text.
struct Case {
  const char* message;
  const char* normalized;
};

const Case kCases[] = {
    {"unix: Can't bind id 0x9 ino 433398 addr : Address already in use",
     "unix: Can't bind id <hex> ino <ino> addr : Address already in use"},
    {"Saved data unexpectedly modified at 0x5a59fffff000 (offset 12 past the parasite stack); parasite: Trimmed "
     "message received (16/0)",
     "Saved data unexpectedly modified at <hex> (offset <n> past the parasite stack); parasite: Trimmed message "
     "received (<n>/<n>)"},
    {"Trimmed message received (12/0)", "Trimmed message received (<n>/<n>)"},
    {"Error (criu/cr-restore.c:1512): 4242 exited, status=1",
     "Error (criu/cr-restore.c:<n>): <n> exited, status=<n>"},
    {"seize pid 31337: Operation not permitted", "seize pid <pid>: Operation not permitted"},
    {"ptrace(PTRACE_SEIZE, pid=4242) failed; tid=4243 still running",
     "ptrace(PTRACE_SEIZE, pid=<pid>) failed; tid=<tid> still running"},
    {"connect to 127.0.0.1:45678 refused", "connect to <ip>:<port> refused"},
    {"listen on port 8080 failed", "listen on port <port> failed"},
    {"can't open /tmp/flakelab-trial-Xy12ab/images/pages-1.img: No such file",
     "can't open <tmp>: No such file"},
    {"read /proc/4242/maps: EOF", "read /proc/<pid>/maps: EOF"},
    {"bind(\"@flakelab-scm06-4242\") failed: EADDRINUSE", "bind(\"@<sock>\") failed: EADDRINUSE"},
    {"run 123e4567-e89b-12d3-a456-426614174000 failed", "run <uuid> failed"},
    {"[2026-11-23T20:16:07.123Z] victim died", "[<ts>] victim died"},
    {"2026-11-23 20:16:07 victim died", "<ts> victim died"},
    {"at 20:16:07.5 on 2026-11-23: boom", "at <time> on <date>: boom"},
    {"image checksum 9f86d081884c7d65 mismatch", "image checksum <hex> mismatch"},
    {"  too   many\tspaces \n and lines  ", "too many spaces and lines"},
    {"x86_64 scm06 ipv6 keep digits inside words", "x86_64 scm06 ipv6 keep digits inside words"},
    {"fd 17 is not a socket (inode: 99)", "fd <fd> is not a socket (inode: <ino>)"},
    {"timeout after 5000ms (3.5 s)", "timeout after <n>ms (<n> s)"},
    {"", ""},
};

TEST(Signature, NormalizesRealMessages) {
  const Normalizer normalizer;
  for (const Case& c : kCases) {
    EXPECT_EQ(normalizer.normalize(c.message), c.normalized) << "message: " << c.message;
  }
}

// Groups of messages: same group -> same signature; different groups -> different.
TEST(Signature, ClustersLikeCi) {
  const std::vector<std::vector<std::string>> groups = {
      {"unix: Can't bind id 0x9 ino 433398 addr : Address already in use",
       "unix: Can't bind id 0x1f ino 12 addr : Address already in use",
       "unix:  Can't bind id 0xabc ino 7777777 addr : Address already in use\n"},
      {"Saved data unexpectedly modified at 0x5a59fffff000 (offset 12 past the parasite stack); parasite: Trimmed "
       "message received (16/0)",
       "Saved data unexpectedly modified at 0x7f3c2a1d0000 (offset 8 past the parasite stack); parasite: Trimmed "
       "message received (24/0)"},
      {"Saved data unexpectedly modified"},
      {"Trimmed message received (12/0)", "Trimmed message received (8/0)"},
      {"bind(\"@flakelab-scm06-4242\") failed", "bind(\"@flakelab-scm06-77\") failed"},
      {"can't open /tmp/a/b.img", "can't open /tmp/zzz/other-name.img"},
  };
  const Normalizer normalizer;
  std::vector<std::string> hashes;
  for (const auto& group : groups) {
    const Signature first = normalizer.signature(group.front());
    for (const std::string& message : group) {
      EXPECT_EQ(normalizer.signature(message).hex(), first.hex()) << message << "\nvs\n" << group.front();
    }
    hashes.push_back(first.hex());
  }
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    for (std::size_t j = i + 1; j < hashes.size(); ++j) {
      EXPECT_NE(hashes[i], hashes[j]) << groups[i].front() << "\nvs\n" << groups[j].front();
    }
  }
}

TEST(Signature, HashIsDocumentedFnv1a64) {
  // Published FNV-1a 64 test vectors.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ULL);
  EXPECT_EQ(hash_hex(0x1234), "0000000000001234");
  const Signature sig = Normalizer().signature("Trimmed message received (12/0)");
  EXPECT_EQ(sig.hash, fnv1a64("Trimmed message received (<n>/<n>)"));
  EXPECT_EQ(sig.hex().size(), 16u);
  // Pinned: a change here changes every stored signature (merge unifies by this hash).
  EXPECT_EQ(sig.hex(), hash_hex(fnv1a64("Trimmed message received (<n>/<n>)")));
}

TEST(Signature, LongMessagesAreCut) {
  const std::string head(Normalizer::kMaxMessageBytes, 'a');
  EXPECT_EQ(Normalizer().normalize(head + "tail one"), Normalizer().normalize(head + "different tail"));
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

TEST(Signature, ConfigMasksRunBeforeBuiltins) {
  TempDir dir;
  const std::string path = dir.file("masks.toml");
  write(path,
        "# project masks\n"
        "[[mask]]\n"
        "name = \"victim names\"\n"
        "pattern = \"victim-[a-z]+\"\n"
        "replace = \"<victim>\"\n"
        "\n"
        "[[mask]]\n"
        "pattern = \"core\\\\.[0-9]+\"\n"
        "replace = \"core.<pid>\"\n");
  const Normalizer normalizer = Normalizer::from_config_file(path);
  ASSERT_EQ(normalizer.masks().size(), 2u);
  EXPECT_EQ(normalizer.masks()[0].origin, path + ":4 (victim names)");
  EXPECT_EQ(normalizer.normalize("victim-alpha died at 0x10, see core.4242"),
            "<victim> died at <hex>, see core.<pid>");
  EXPECT_EQ(normalizer.signature("victim-alpha died").hex(), normalizer.signature("victim-beta died").hex());
  EXPECT_NE(Normalizer().signature("victim-alpha died").hex(), Normalizer().signature("victim-beta died").hex());
}

TEST(Signature, BadRegexNamesFileAndLine) {
  TempDir dir;
  const std::string path = dir.file("bad.toml");
  write(path,
        "[[mask]]\n"
        "pattern = \"ok\"\n"
        "replace = \"x\"\n"
        "[[mask]]\n"
        "replace = \"y\"\n"
        "pattern = \"unclosed(group\"\n");
  try {
    Normalizer::from_config_file(path);
    FAIL() << "a bad regex was accepted";
  } catch (const SignatureError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr(path + ":6"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("unclosed(group"));
  }
}

TEST(Signature, ConfigErrors) {
  EXPECT_THROW(Normalizer::from_config_string("[[mask]]\npattern = \"a\"\n", "m.toml"), SignatureError)
      << "missing replace";
  EXPECT_THROW(Normalizer::from_config_string("[[mask]]\npattern = 3\nreplace = \"x\"\n", "m.toml"), SignatureError);
  EXPECT_THROW(Normalizer::from_config_string("mask = 1\n", "m.toml"), SignatureError);
  try {
    Normalizer::from_config_string("[[mask]\n", "broken.toml");
    FAIL();
  } catch (const SignatureError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("broken.toml:1"));
  }
  try {
    Normalizer::from_config_file("/nonexistent/masks.toml");
    FAIL();
  } catch (const SignatureError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("/nonexistent/masks.toml"));
  }
  EXPECT_TRUE(Normalizer::from_config_string("", "empty.toml").masks().empty());
}

}  // namespace
}  // namespace flakelab::results
