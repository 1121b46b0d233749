#include "flakelab/harness/trial_wire.h"

#include <gtest/gtest.h>

namespace flakelab::harness {
namespace {

using scenarios::Verdict;

TEST(TrialWire, RoundTrips) {
  for (Verdict verdict : {Verdict::kPass, Verdict::kFail, Verdict::kError}) {
    WireResult in{verdict, std::string("msg with \0 nul", 14), "victim=0,injector=1"};
    std::optional<WireResult> out = decode_result(encode_result(in));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->verdict, in.verdict);
    EXPECT_EQ(out->message, in.message);
    EXPECT_EQ(out->cpus_used, in.cpus_used);
  }
  std::optional<WireResult> empty = decode_result(encode_result(WireResult{}));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->verdict, Verdict::kPass);
  EXPECT_EQ(empty->message, "");
}

TEST(TrialWire, RejectsEveryTruncationAndTrailingBytes) {
  const std::string frame = encode_result({Verdict::kFail, "tails", "injector=1"});
  for (size_t size = 0; size < frame.size(); ++size) {
    EXPECT_FALSE(decode_result(frame.substr(0, size)).has_value()) << size;
  }
  EXPECT_FALSE(decode_result(frame + "x").has_value());
  EXPECT_FALSE(decode_result(frame + frame).has_value());
}

TEST(TrialWire, RejectsAnUnknownVerdictAndInconsistentLengths) {
  std::string frame = encode_result({Verdict::kPass, "m", "c"});
  std::string bad_verdict = frame;
  bad_verdict[4] = 7;
  EXPECT_FALSE(decode_result(bad_verdict).has_value());
  std::string bad_length = frame;
  bad_length[5] = 2;  // message length 2, stealing a byte of the next field
  EXPECT_FALSE(decode_result(bad_length).has_value());
}

}  // namespace
}  // namespace flakelab::harness
