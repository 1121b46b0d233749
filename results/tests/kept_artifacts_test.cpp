// Links from a report page to a trial's kept directory: relative to the page, percent-encoded,
// only to what exists.
#include "flakelab/results/kept_artifacts.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"

namespace flakelab::results {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(KeptArtifacts, HrefsArePercentEncoded) {
  EXPECT_EQ(href_of_path("../a b/c#d%e?f/trial-1/"), "../a%20b/c%23d%25e%3Ff/trial-1/");
  EXPECT_EQ(href_of_path("caf\xc3\xa9/x_y~z.log"), "caf%C3%A9/x_y~z.log");
}

TEST(KeptArtifacts, NothingKeptOrNotOnThisMachine) {
  const KeptArtifacts none = find_kept_artifacts("", "/tmp");
  EXPECT_TRUE(none.path.empty());
  EXPECT_FALSE(none.found);
  EXPECT_TRUE(none.links.empty());
  const KeptArtifacts elsewhere = find_kept_artifacts("/nonexistent/flakelab-artifacts/x/cell-1/trial-2", "/tmp");
  EXPECT_EQ(elsewhere.path, "/nonexistent/flakelab-artifacts/x/cell-1/trial-2");
  EXPECT_FALSE(elsewhere.found);
  EXPECT_TRUE(elsewhere.links.empty());
}

// A relative path as `run` records it (from the current directory), a trailing slash, and a
// page in the same directory: links start at the page.
TEST(KeptArtifacts, RelativePathFromTheCurrentDirectory) {
  TempDir dir;
  fs::create_directories(dir.file("arts/cell-1/trial-2/images"));
  std::ofstream(dir.file("arts/cell-1/trial-2/engine.log")) << "x\n";
  const std::string relative = fs::path(dir.file("arts/cell-1/trial-2")).lexically_relative(fs::current_path()).string();
  const KeptArtifacts kept = find_kept_artifacts(relative + "/", dir.file(""));
  ASSERT_TRUE(kept.found) << relative;
  ASSERT_EQ(kept.links.size(), 3u);
  EXPECT_EQ(kept.links[0].name, "trial-2/");
  EXPECT_EQ(kept.links[0].href, "arts/cell-1/trial-2/");
  EXPECT_EQ(kept.links[1].name, "engine.log");
  EXPECT_EQ(kept.links[1].href, "arts/cell-1/trial-2/engine.log");
  EXPECT_EQ(kept.links[2].name, "images/");
  EXPECT_EQ(kept.links[2].href, "arts/cell-1/trial-2/images/");
}

}  // namespace
}  // namespace flakelab::results
