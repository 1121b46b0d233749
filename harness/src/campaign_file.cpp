#include "flakelab/harness/campaign_file.h"
#include "flakelab/harness/run_command.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "flakelab/base/unique_fd.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  std::string where(const toml::source_region& source) const {
    return fmt::format("{}:{}:{}", name_, source.begin.line, source.begin.column);
  }
  [[noreturn]] void fail(const toml::node& node, const std::string& what) const {
    throw UsageError(fmt::format("{}: {}", where(node.source()), what));
  }
  [[noreturn]] void fail(const toml::key& key, const std::string& what) const {
    throw UsageError(fmt::format("{}: {}", where(key.source()), what));
  }

  std::string string(const toml::node& node, std::string_view key) const {
    if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
    fail(node, fmt::format("'{}' must be a string", key));
  }
  int64_t integer(const toml::node& node, std::string_view key, int64_t min) const {
    auto v = node.as_integer();
    if (v == nullptr || v->get() < min) fail(node, fmt::format("'{}' must be an integer >= {}", key, min));
    return v->get();
  }
  bool boolean(const toml::node& node, std::string_view key) const {
    auto v = node.as_boolean();
    if (v == nullptr) fail(node, fmt::format("'{}' must be true or false", key));
    return v->get();
  }
  double seconds(const toml::node& node, std::string_view key) const {
    try {
      if (node.is_integer() || node.is_floating_point()) {
        const double v = *node.value<double>();
        if (!(v > 0)) fail(node, fmt::format("'{}' must be a positive number of seconds", key));
        return v;
      }
      if (node.is_string()) return parse_seconds_arg(key, *node.value<std::string>());
    } catch (const UsageError& e) {
      fail(node, e.what());
    }
    fail(node, fmt::format("'{}' must be seconds (a number) or a duration string such as \"10m\"", key));
  }
  // A string, or an array of strings joined with ','.
  std::string list(const toml::node& node, std::string_view key) const {
    if (node.is_string()) return *node.value<std::string>();
    if (const toml::array* array = node.as_array()) {
      std::string out;
      for (const toml::node& item : *array) {
        if (!out.empty()) out += ',';
        out += string(item, key);
      }
      if (out.empty()) fail(node, fmt::format("'{}' must not be empty", key));
      return out;
    }
    fail(node, fmt::format("'{}' must be a string or an array of strings", key));
  }
  std::vector<std::string> strings(const toml::node& node, std::string_view key) const {
    if (node.is_string()) return {*node.value<std::string>()};
    std::vector<std::string> out;
    if (const toml::array* array = node.as_array()) {
      for (const toml::node& item : *array) out.push_back(string(item, key));
      return out;
    }
    fail(node, fmt::format("'{}' must be a string or an array of strings", key));
  }
  // A scenario parameter's value(s): string, integer, float or bool (on/off); an array
  // of them is a grid.
  std::vector<std::string> param_values(const toml::node& node, std::string_view key) const {
    auto one = [&](const toml::node& v) -> std::string {
      if (v.is_string()) return *v.value<std::string>();
      if (v.is_integer()) return std::to_string(*v.value<int64_t>());
      if (v.is_floating_point()) return fmt::format("{}", *v.value<double>());
      if (v.is_boolean()) return *v.value<bool>() ? "on" : "off";
      fail(v, fmt::format("parameter '{}': a value must be a string, number or boolean", key));
    };
    if (const toml::array* array = node.as_array()) {
      std::vector<std::string> out;
      for (const toml::node& item : *array) out.push_back(one(item));
      if (out.empty()) fail(node, fmt::format("parameter '{}': empty array", key));
      return out;
    }
    return {one(node)};
  }
  Expect expect(const toml::node& node) const {
    const std::string text = string(node, "expect");
    if (text == "pass") return Expect::kPass;
    if (text == "flaky") return Expect::kFlaky;
    fail(node, fmt::format("'expect' must be \"pass\" or \"flaky\", not \"{}\"", text));
  }

  // Keys every [[run]] may set, and the top level as defaults for them.
  bool entry_key(const toml::key& key, const toml::node& node, EntrySpec& entry) const {
    const std::string_view k = key.str();
    if (k == "trials") entry.trials = integer(node, k, 1);
    else if (k == "placements" || k == "placement") entry.placements = list(node, k);
    else if (k == "noise") entry.noise = list(node, k);
    else if (k == "jitter") entry.jitter = list(node, k);
    else if (k == "until_failures") entry.until_failures = integer(node, k, 1);
    else if (k == "expect") entry.expect = expect(node);
    else if (k == "timeout") entry.timeout_s = seconds(node, k);
    else return false;
    return true;
  }

 private:
  std::string name_;
};

}  // namespace

void parse_campaign_text(std::string_view text, const std::string& name, CampaignSpec& spec) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw UsageError(fmt::format("{}:{}:{}: {}", name, e.source().begin.line, e.source().begin.column,
                                 e.description()));
  }
  Reader reader(name);
  EntrySpec defaults;
  defaults.trials = 100;
  const toml::array* runs = nullptr;
  for (auto&& [key, node] : root) {
    const std::string_view k = key.str();
    if (reader.entry_key(key, node, defaults)) continue;
    if (k == "run") {
      runs = node.as_array();
      if (runs == nullptr || !runs->is_array_of_tables()) reader.fail(node, "'run' must be an array of tables: [[run]]");
    } else if (k == "max_time") {
      spec.max_time_s = reader.seconds(node, k);
    } else if (k == "jobs") {
      spec.jobs = static_cast<int>(reader.integer(node, k, 1));
    } else if (k == "share_pus") {
      spec.share_pus = reader.boolean(node, k);
    } else if (k == "fresh_namespaces") {
      spec.fresh_namespaces = reader.boolean(node, k);
    } else if (k == "seed") {
      spec.seed = static_cast<uint64_t>(reader.integer(node, k, 0));
    } else if (k == "keep_artifacts") {
      try {
        spec.keep_artifacts = keep_artifacts_from_string(reader.string(node, k));
      } catch (const UsageError& e) {
        reader.fail(node, e.what());
      }
    } else if (k == "artifacts_dir") {
      spec.artifacts_dir = reader.string(node, k);
    } else if (k == "failure") {
      spec.failure_regexes = reader.strings(node, k);
    } else if (k == "ignore") {
      spec.ignore_regexes = reader.strings(node, k);
    } else {
      reader.fail(key, fmt::format("unknown key '{}' (campaign keys: trials, placements, expect, noise, jitter, "
                                   "until_failures, timeout, max_time, jobs, share_pus, fresh_namespaces, seed, keep_artifacts, "
                                   "artifacts_dir, failure, ignore, and [[run]] tables)",
                                   k));
    }
  }
  if (runs == nullptr || runs->empty()) {
    throw UsageError(fmt::format("{}: no [[run]] entry (each names a scenario)", name));
  }
  for (const toml::node& item : *runs) {
    const toml::table& table = *item.as_table();
    EntrySpec entry = defaults;
    entry.where = reader.where(table.source());
    bool has_scenario = false;
    bool has_command = false;
    for (auto&& [key, node] : table) {
      const std::string_view k = key.str();
      if (reader.entry_key(key, node, entry)) continue;
      if (k == "scenario") {
        entry.scenario = reader.string(node, k);
        has_scenario = true;
      } else if (k == "cpus") {
        entry.cpus = reader.string(node, k);
      } else if (k == "command") {
        // cmd's command as an argv array (or one string in shell syntax), kept as its
        // `command` parameter, shell-quoted.
        const std::vector<std::string> argv = reader.strings(node, k);
        if (argv.empty()) reader.fail(node, "'command' must not be empty, e.g. command = [\"make\", \"test\"]");
        entry.params.emplace_back("command", std::vector<std::string>{
                                                 node.is_string() ? argv.front() : quote_command_line(argv)});
        has_command = true;
      } else if (k == "params") {
        const toml::table* params = node.as_table();
        if (params == nullptr) reader.fail(node, "'params' must be a table, e.g. params = { p = 0.05 }");
        for (auto&& [pkey, pnode] : *params) {
          entry.params.emplace_back(std::string(pkey.str()), reader.param_values(pnode, pkey.str()));
        }
      } else {
        reader.fail(key, fmt::format("unknown key '{}' in [[run]] (keys: scenario, command, params, trials, "
                                     "placements, cpus, expect, noise, jitter, until_failures, timeout)",
                                     k));
      }
    }
    if (!has_scenario) throw UsageError(fmt::format("{}: [[run]] without 'scenario'", entry.where));
    if (has_command && entry.scenario != "cmd") {
      throw UsageError(fmt::format("{}: 'command' is the command of scenario \"cmd\", not of {}", entry.where,
                                   entry.scenario));
    }
    spec.entries.push_back(std::move(entry));
  }
  spec.campaign_text = std::string(text);
}

void load_campaign_file(const std::string& path, CampaignSpec& spec) {
  // O_NONBLOCK: a FIFO given by mistake is refused below instead of hanging the run.
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw UsageError(errno_text("--campaign: cannot open " + path, errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw UsageError(errno_text("--campaign: fstat " + path, errno));
  if (!S_ISREG(st.st_mode)) throw UsageError(fmt::format("--campaign {}: not a regular file", path));
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw UsageError(errno_text("--campaign: read " + path, errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  parse_campaign_text(text, path, spec);
}

}  // namespace flakelab::harness
