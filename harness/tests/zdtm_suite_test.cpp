// `flakelab zdtm-suite` and `flakelab run --engine-cli`, run as a user would, over the
// project's own zdtm-protocol programs with flakelab's CLI as the external engine.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/trial_dir.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

using testing::describe;
using testing::Ran;

class ZdtmSuite : public ::testing::Test {
 protected:
  Ran flakelab(std::vector<std::string> args) {
    args.push_back("--db");
    args.push_back(db_);
    return testing::finish_flakelab(dir_, testing::spawn_flakelab(dir_, args));
  }
  std::vector<std::string> run_params() {
    results::Store store(db_);
    std::vector<std::string> params;
    for (int64_t id : store.run_ids()) params.push_back(store.run(id).info.params);
    return params;
  }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-zdtm-"};
  const std::filesystem::path dir_ = temp_.path();
  const std::string db_ = (dir_ / "t.db").string();
  const std::string programs_ = ZDTM_PROGRAMS_DIR;
};

TEST_F(ZdtmSuite, EveryProgramPassesFailsOrIsSkippedThroughTheCliEngine) {
  Ran ran = flakelab({"zdtm-suite", "--src", programs_, "--engine-cli", FLAKELAB_BIN, "-n", "2"});
  EXPECT_EQ(ran.code, 1) << describe(ran);
  EXPECT_NE(ran.out.find("PASS   zdtm_keeps_state"), std::string::npos) << describe(ran);
  EXPECT_NE(ran.out.find("FAIL   zdtm_not_restored                0/2 passed  zdtm_not_restored did not PASS"),
            std::string::npos)
      << describe(ran);
  EXPECT_NE(ran.out.find("SKIP   zdtm_ns_only                     its .desc runs it only in the flavors 'ns uns'"),
            std::string::npos)
      << describe(ran);
  EXPECT_NE(ran.out.find("zdtm-suite: 1 passed, 1 failed, 1 skipped of 3 tests"), std::string::npos) << describe(ran);
  // The failing test keeps its trial directories: its out file and the engine's output.
  const size_t at = ran.out.find("artifacts: ");
  ASSERT_NE(at, std::string::npos) << describe(ran);
  const std::string kept = ran.out.substr(at + 11, ran.out.find('\n', at) - at - 11);
  int outs = 0, engine_outputs = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kept)) {
    outs += entry.path().filename() == "zdtm_not_restored.out";
    engine_outputs += entry.path().filename().string().starts_with("engine-dump-");
  }
  EXPECT_EQ(outs, 2) << kept;
  EXPECT_EQ(engine_outputs, 2) << kept;
  const std::vector<std::string> params = run_params();
  ASSERT_EQ(params.size(), 2u);
  for (const std::string& p : params) {
    EXPECT_NE(p.find("engine=cli,engine_cli=" + std::string(FLAKELAB_BIN) + ",engine_version="), std::string::npos) << p;
  }
}

// Kept trial directories move from the run's temp root (/dev/shm) to the artifacts
// directory, another file system: a zdtm test's sockets and FIFOs are left behind.
TEST(KeptTrialDir, MovesAcrossFileSystemsWithoutSocketsAndFifos) {
  const base::TempDir shm("/dev/shm", "flakelab-move-");
  const base::TempDir target_parent{::testing::TempDir(), "flakelab-moved-"};
  const std::filesystem::path from = std::filesystem::path(shm.path()) / "trial";
  std::filesystem::create_directories(from / "images");
  { std::ofstream(from / "images" / "core.img") << "image"; }
  std::filesystem::create_symlink("images/core.img", from / "link");
  ASSERT_EQ(::mkfifo((from / "fifo").c_str(), 0600), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = (from / "images" / "sock").string();
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
  ::close(sock);
  const std::filesystem::path to = std::filesystem::path(target_parent.path()) / "kept";
  move_tree(from.string(), to.string());
  EXPECT_FALSE(std::filesystem::exists(from));
  std::ifstream image(to / "images" / "core.img");
  std::string text;
  image >> text;
  EXPECT_EQ(text, "image");
  EXPECT_EQ(std::filesystem::read_symlink(to / "link"), "images/core.img");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(to / "fifo")));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(to / "images" / "sock")));
}

TEST_F(ZdtmSuite, OnlyPassingProgramsExitZeroWithTheLibraryEngine) {
  Ran ran = flakelab({"zdtm-suite", "--src", programs_, "--only", "keeps"});
  EXPECT_EQ(ran.code, 0) << describe(ran);
  EXPECT_NE(ran.out.find("1 passed, 0 failed, 0 skipped of 1 tests (engine library)"), std::string::npos) << describe(ran);
}

TEST_F(ZdtmSuite, BadInputIsAUsageError) {
  Ran no_dir = flakelab({"zdtm-suite", "--src", (dir_ / "nowhere").string()});
  EXPECT_EQ(no_dir.code, 2) << describe(no_dir);
  EXPECT_NE(no_dir.err.find("not a directory"), std::string::npos) << describe(no_dir);
  Ran no_cli = flakelab({"run", "scm06", "--engine-cli", (dir_ / "no-such-engine").string(), "-n", "1"});
  EXPECT_EQ(no_cli.code, 2) << describe(no_cli);
  EXPECT_NE(no_cli.err.find("not an executable file"), std::string::npos) << describe(no_cli);
  Ran skipped = flakelab({"run", "zdtm", "-p", "test=" + programs_ + "/zdtm_ns_only", "-n", "1"});
  EXPECT_EQ(skipped.code, 2) << describe(skipped);
  EXPECT_NE(skipped.err.find("every cell was skipped"), std::string::npos) << describe(skipped);
}

TEST_F(ZdtmSuite, RunWithEngineCliRecordsTheEngineInTheCell) {
  Ran ran = flakelab({"run", "scm06", "--engine-cli", FLAKELAB_BIN, "-n", "3"});
  EXPECT_EQ(ran.code, 0) << describe(ran);
  const std::vector<std::string> params = run_params();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_NE(params[0].find("engine=cli,engine_cli=" + std::string(FLAKELAB_BIN) + ",engine_version="), std::string::npos)
      << params[0];
}

}  // namespace
}  // namespace flakelab::harness
