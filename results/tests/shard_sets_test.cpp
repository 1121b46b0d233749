// Shard sets: complete, missing, duplicated and crashed shards, across a merge.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "fixtures.h"
#include "flakelab/results/merge.h"
#include "flakelab/results/shard_sets.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace testing;  // NOLINT: fixtures

// One shard's database: a run of shard `index`/`count` with `trials` passing trials.
void write_shard(const std::string& path, int index, int count, const std::string& group, bool end = true,
                 const std::string& invocation = "") {
  Store store(path);
  RunInfo info = make_run("selftest/coin", "p=0.1", "unpinned", 42);
  info.campaign_hash = "0123456789abcdef";
  info.shard = fmt::format("{}/{}", index, count);
  if (!group.empty()) info.shard_group = group;
  info.invocation = invocation.empty() ? fmt::format("inv-{}-{}", group, index) : invocation;
  info.planned_trials = 3;
  const int64_t run = store.begin_run(store.upsert_host(epyc()), info);
  for (int i = 0; i < 3; ++i) store.add_trial(run, make_trial(index * 10 + i, Outcome::kPass));
  store.flush();
  if (end) store.end_run(run, 1000);
}

TEST(ParseShard, AcceptsOnlyIOverN) {
  int i = 0, n = 0;
  EXPECT_TRUE(parse_shard("2/3", i, n));
  EXPECT_EQ(i, 2);
  EXPECT_EQ(n, 3);
  for (const char* bad : {"0/3", "4/3", "3", "/3", "1/", "a/b", "1/3x", "-1/3", "1/0"}) {
    EXPECT_FALSE(parse_shard(bad, i, n)) << bad;
  }
}

TEST(ShardSets, MergedSetsTellCompleteFromMissingAndCrashed) {
  TempDir dir;
  write_shard(dir.file("a1.db"), 1, 3, "amd");
  write_shard(dir.file("a2.db"), 2, 3, "amd");
  write_shard(dir.file("a3.db"), 3, 3, "amd");
  write_shard(dir.file("i1.db"), 1, 3, "intel");
  write_shard(dir.file("i3.db"), 3, 3, "intel", /*end=*/false);
  merge(dir.file("all.db"), {dir.file("a1.db"), dir.file("a2.db"), dir.file("a3.db"), dir.file("i1.db"),
                             dir.file("i3.db")});
  Store store(dir.file("all.db"));
  const std::vector<ShardSet> sets = shard_sets(store);
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].group, "amd");
  EXPECT_TRUE(sets[0].complete());
  EXPECT_THAT(sets[0].present, ElementsAre(1, 2, 3));
  EXPECT_EQ(sets[0].trials, 9);
  EXPECT_EQ(sets[0].planned_trials, 9);
  EXPECT_EQ(sets[1].group, "intel");
  EXPECT_FALSE(sets[1].complete());
  EXPECT_THAT(sets[1].missing, ElementsAre(2));
  EXPECT_THAT(sets[1].unfinished, ElementsAre(3));
  const std::string text = format_shard_sets(sets);
  EXPECT_THAT(text, HasSubstr("group amd, 3 shards: complete (3 of 3 shards"));
  EXPECT_THAT(text, HasSubstr("group intel, 3 shards: INCOMPLETE; missing 2/3; never ended (crashed?) 3/3"));
}

TEST(ShardSets, ARerunShardIsReportedAsDuplicated) {
  TempDir dir;
  write_shard(dir.file("s1.db"), 1, 2, "");
  write_shard(dir.file("s2.db"), 2, 2, "");
  write_shard(dir.file("s2-again.db"), 2, 2, "", true, "another-invocation");
  merge(dir.file("all.db"), {dir.file("s1.db"), dir.file("s2.db"), dir.file("s2-again.db")});
  Store store(dir.file("all.db"));
  const std::vector<ShardSet> sets = shard_sets(store);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_TRUE(sets[0].complete());
  EXPECT_THAT(sets[0].duplicated, ElementsAre(2));
  EXPECT_THAT(format_shard_sets(sets), HasSubstr("recorded more than once 2/2"));
}

TEST(ShardSets, UnshardedRunsFormNoSet) {
  TempDir dir;
  Store store(dir.file("r.db"));
  store.begin_run(store.upsert_host(epyc()), make_run("selftest/coin", "p=0.1", "unpinned", 1));
  EXPECT_TRUE(shard_sets(store).empty());
}

}  // namespace
}  // namespace flakelab::results
