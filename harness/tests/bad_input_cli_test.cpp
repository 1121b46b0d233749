// Bad input to the CLI is a clear error and a non-zero exit, never a hang or a
// quiet reinterpretation (issue 16 points 5 and 7): FIFOs where files are
// expected, integers out of range, a damaged database, a kernel thread to dump.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "flakelab/base/procfs.h"
#include "flakelab/base/temp_dir.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;
using testing::describe;
using testing::Ran;

class BadInputCli : public ::testing::Test {
 protected:
  Ran flakelab(const std::vector<std::string>& args) {
    return testing::finish_flakelab(dir_, testing::spawn_flakelab(dir_, args));
  }
  fs::path fifo(const std::string& name) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    if (mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + path.string());
    return path;
  }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-bad-input-"};
  const fs::path dir_ = temp_.path();
};

// Each of these blocked forever in open() or read() on the FIFO.
TEST_F(BadInputCli, FifosAreRefusedNotWaitedOn) {
  const fs::path images = fifo("images/process.img").parent_path();
  for (const char* verb : {"show", "restore"}) {
    Ran ran = flakelab({verb, "-D", images.string()});
    EXPECT_EQ(ran.code, 1) << verb << ": " << describe(ran);
    EXPECT_NE(ran.err.find("open " + (images / "process.img").string() + ": not a regular file (a FIFO)"),
              std::string::npos)
        << verb << ": " << ran.err;
  }
  const fs::path campaign = fifo("campaign.toml");
  Ran run_campaign = flakelab({"run", "--campaign", campaign.string()});
  EXPECT_EQ(run_campaign.code, 2) << describe(run_campaign);
  EXPECT_NE(run_campaign.err.find("--campaign " + campaign.string() + ": not a regular file"), std::string::npos)
      << run_campaign.err;
  const fs::path db = fifo("results.db");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--db", db.string(), "selftest/noop", "-n", "1"},
        std::vector<std::string>{"report", "--db", db.string()}}) {
    Ran ran = flakelab(args);
    EXPECT_EQ(ran.code, 3) << args[0] << ": " << describe(ran);
    EXPECT_NE(ran.err.find(db.string() + "': open: not a regular file"), std::string::npos) << ran.err;
  }
}

// CLI11 alone wrapped "-1" to 2^64-1 and clamped values beyond 64 bits. (A value
// CLI11 cannot read as a number, like a huge negative one, needs --opt=VALUE.)
TEST_F(BadInputCli, IntegersOutOfRangeAreUsageErrorsNamingOptionAndValue) {
  struct Case {
    std::vector<std::string> args;
    std::string option, value;
    int code = 2;
  };
  const std::string db = (dir_ / "r.db").string();
  const std::vector<Case> cases = {
      {{"run", "selftest/noop", "--db", db, "-n", "99999999999999999999"}, "--trials", "99999999999999999999"},
      {{"run", "selftest/noop", "--db", db, "--seed", "-1"}, "--seed", "-1"},
      {{"run", "selftest/noop", "--db", db, "--seed", "18446744073709551616"}, "--seed", "18446744073709551616"},
      {{"run", "selftest/noop", "--db", db, "--seed", " 7"}, "--seed", " 7"},
      {{"run", "selftest/noop", "--db", db, "-j", "4294967297"}, "--jobs", "4294967297"},
      {{"run", "selftest/noop", "--db", db, "--until-failures", "1e3"}, "--until-failures", "1e3"},
      // bisect-verdict's usage errors exit 128 (kBisectAbort): git bisect must stop, not call the commit bad.
      {{"bisect-verdict", "selftest/coin", "--baseline-rate", "0.1", "--db", db, "--max-trials=-99999999999999999999"},
       "--max-trials", "-99999999999999999999", 128},
      {{"bisect-verdict", "selftest/coin", "--baseline-rate", "0.1", "--db", db, "--seed", "-5"}, "--seed", "-5", 128},
      {{"report", "--db", db, "--run", "12x"}, "--run", "12x"},
      {{"compare", "1", "99999999999999999999", "--db", db}, "run_b", "99999999999999999999"},
      {{"dump", "-t", "4294967296", "-D", (dir_ / "img").string()}, "--tree", "4294967296"},
      {{"restore", "-D", (dir_ / "img").string(), "-v", "2147483648"}, "--verbosity", "2147483648"},
      {{"topo", "--jobs=-2147483649"}, "--jobs", "-2147483649"},
  };
  for (const Case& c : cases) {
    Ran ran = flakelab(c.args);
    EXPECT_EQ(ran.code, c.code) << c.args[0] << " " << c.option << " " << c.value << ": " << describe(ran);
    EXPECT_NE(ran.err.find(c.option), std::string::npos) << c.args[0] << ": " << ran.err;
    EXPECT_NE(ran.err.find(fmt::format("'{}'", c.value)), std::string::npos) << ran.err;
  }
  EXPECT_FALSE(fs::exists(db)) << "a refused command line must not create the database";
}

// Breaks the first leaf page of the trials table (its cell count becomes 0xffff):
// appends go to the last leaf and succeeded, report failed on it later.
void damage_trials_table(const fs::path& db) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT rootpage FROM sqlite_master WHERE name = 'trials'", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const int64_t root = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  constexpr int64_t kPage = 4096;  // SQLite's default page size, which the store keeps
  std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
  auto byte_at = [&](int64_t at) {
    f.seekg(at);
    return static_cast<uint8_t>(f.get());
  };
  const int64_t root_at = (root - 1) * kPage;
  ASSERT_EQ(byte_at(root_at), 0x05) << "the trials table has no interior root page: too few trials";
  const int64_t first_cell = byte_at(root_at + 12) << 8 | byte_at(root_at + 13);
  int64_t child = 0;
  for (int i = 0; i < 4; ++i) child = child << 8 | byte_at(root_at + first_cell + i);
  ASSERT_EQ(byte_at((child - 1) * kPage), 0x0d) << "not a table leaf page";
  f.seekp((child - 1) * kPage + 3);
  f.put('\xff');
  f.put('\xff');
}

TEST_F(BadInputCli, DamagedDatabaseIsRefusedByRunAndMerge) {
  const fs::path db = dir_ / "damaged.db";
  const fs::path good = dir_ / "good.db";
  ASSERT_EQ(flakelab({"run", "selftest/noop", "-n", "600", "--db", db.string()}).code, 0);
  ASSERT_EQ(flakelab({"run", "selftest/noop", "-n", "3", "--db", good.string()}).code, 0);
  damage_trials_table(db);
  const auto size = fs::file_size(db);
  const std::string damage = db.string() + "': integrity check (PRAGMA quick_check)";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "selftest/noop", "-n", "5", "--db", db.string()},
        std::vector<std::string>{"merge", "-o", db.string(), good.string()},
        std::vector<std::string>{"merge", "-o", (dir_ / "out.db").string(), db.string()}}) {
    Ran ran = flakelab(args);
    EXPECT_EQ(ran.code, 3) << args[0] << ": " << describe(ran);
    EXPECT_NE(ran.err.find(damage), std::string::npos) << ran.err;
  }
  EXPECT_EQ(fs::file_size(db), size) << "something was written to the damaged database";
  EXPECT_EQ(flakelab({"report", "--db", db.string()}).code, 3);
}

TEST_F(BadInputCli, DumpOfAKernelThreadNamesIt) {
  // kthreadd is pid 2 on the host; inside a pid namespace there may be no kernel thread in sight.
  pid_t kthread = 0;
  std::string name;
  for (pid_t pid = 2; pid < 200 && kthread == 0; ++pid) {
    auto status = base::procfs::read_status(pid);
    if (status && status->kernel_thread) {
      kthread = pid;
      name = status->name;
    }
  }
  if (kthread == 0) GTEST_SKIP() << "no kernel thread visible in this pid namespace";
  Ran ran = flakelab({"dump", "-t", std::to_string(kthread), "-D", (dir_ / "img").string()});
  EXPECT_EQ(ran.code, 1) << describe(ran);
  EXPECT_NE(ran.err.find("pid " + std::to_string(kthread) + " (" + name + ") is a kernel thread; it cannot be dumped"),
            std::string::npos)
      << ran.err;
}

// Without root a trial cannot get its namespaces: the run says so and exits 3 (it
// said only "Operation not permitted").
TEST_F(BadInputCli, WithoutRootARunSaysItNeedsRoot) {
  fs::permissions(dir_, fs::perms::all);  // nobody writes its output and database here
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int out = ::open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const int err = ::open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const gid_t nogroup = 65534;
    const uid_t nobody = 65534;
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 || ::chdir(dir_.c_str()) != 0 ||
        ::setgroups(0, nullptr) != 0 || ::setresgid(nogroup, nogroup, nogroup) != 0 ||
        ::setresuid(nobody, nobody, nobody) != 0) {
      ::_exit(126);
    }
    ::execl(FLAKELAB_BIN, FLAKELAB_BIN, "run", "selftest/noop", "-n", "1", "--db", "nobody.db", nullptr);
    ::_exit(127);
  }
  const Ran ran = testing::finish_flakelab(dir_, pid);
  EXPECT_EQ(ran.code, 3) << describe(ran);
  EXPECT_NE(ran.err.find("Operation not permitted (trials run in their own pid, mount and network namespaces, "
                         "which needs root"),
            std::string::npos)
      << ran.err;
}

}  // namespace
}  // namespace flakelab::harness
