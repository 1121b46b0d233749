// Campaign files (`flakelab run --campaign FILE`), TOML:
//
//   trials = 1000                 # defaults for every [[run]]: trials, placements, expect,
//   placements = ["same-pu"]      #   noise, jitter, until_failures, timeout
//   max_time = "10m"              # campaign-wide: max_time, jobs, share_pus, seed,
//   jobs = 1                      #   keep_artifacts, artifacts_dir, failure, ignore
//
//   [[run]]
//   scenario = "compel/stack"
//   params = { check = "legacy", adjacent_writer = "on" }   # an array of values is a grid
//   expect = "flaky"
//
// Unknown keys, wrong types and TOML syntax errors are UsageErrors that start with
// "FILE:LINE:COLUMN:".
#pragma once

#include <string>
#include <string_view>

#include "flakelab/harness/campaign.h"

namespace flakelab::harness {

// Fills `spec` from the file (its entries, and whatever campaign-wide values it sets).
void load_campaign_file(const std::string& path, CampaignSpec& spec);
// The same, from text; `name` is used in messages.
void parse_campaign_text(std::string_view text, const std::string& name, CampaignSpec& spec);

}  // namespace flakelab::harness
