#include "flakelab/scenarios/zdtm_desc.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "flakelab/base/child_process.h"

namespace flakelab::scenarios::zdtm {
namespace {

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// Runs PROGRAM ARGS in `dir` with output discarded; true if it exits 0.
bool succeeds(const std::vector<std::string>& argv, const std::string& dir) {
  try {
    base::ChildProcess child = base::ChildProcess::fork([&] {
      int null = ::open("/dev/null", O_RDWR);
      if (chdir(dir.c_str()) != 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(127);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    });
    const int status = child.wait();
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

bool ZdtmDesc::has_flag(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}
bool ZdtmDesc::has_flavor(const std::string& flavor) const {
  return std::find(flavors.begin(), flavors.end(), flavor) != flavors.end();
}

ZdtmDesc read_zdtm_desc(const std::string& test) {
  ZdtmDesc desc;
  const std::string path = test + ".desc";
  if (!std::filesystem::exists(path)) return desc;
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(fmt::format("{}: cannot read it", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  // Comments go first: a '#' line may quote keys.
  text = std::regex_replace(text, std::regex("#[^\n]*"), "");
  // 'key': 'value' | "value" | 123 (lists such as deps are not needed to run a test).
  static const std::regex entry(R"re(['"](\w+)['"]\s*:\s*(?:'([^']*)'|"([^"]*)"|(\d+)))re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const std::string key = m[1];
    const bool number = m[4].matched;
    const std::string value = m[2].matched ? m[2].str() : m[3].matched ? m[3].str() : m[4].str();
    if (key == "timeout") {
      if (!number) throw std::invalid_argument(fmt::format("{}: timeout '{}' is not a number", path, value));
      desc.timeout_s = std::stoi(value);
      continue;
    }
    if (number) continue;
    if (key == "flavor") desc.flavors = words(value);
    else if (key == "flags") desc.flags = words(value);
    else if (key == "opts") desc.opts = words(value);
    else if (key == "dopts") desc.dopts = words(value);
    else if (key == "ropts") desc.ropts = words(value);
    else if (key == "feature") desc.features = words(value);
    else if (key == "arch") desc.arch = value;
  }
  return desc;
}

std::optional<std::string> zdtm_skip_reason(const std::string& test, const ZdtmDesc& desc,
                                            const std::string& criu_cli) {
  if (!desc.has_flavor("h")) {
    std::string flavors;
    for (const std::string& f : desc.flavors) {
      if (!flavors.empty()) flavors += ' ';
      flavors += f;
    }
    return fmt::format("its .desc runs it only in the flavors '{}'; flakelab runs zdtm's host flavor (h)", flavors);
  }
  if (!desc.arch.empty()) {
    struct utsname name {};
    uname(&name);
    if (desc.arch != name.machine) return fmt::format("arch {} (this machine is {})", desc.arch, name.machine);
  }
  const std::string checkskip = test + ".checkskip";
  if (access(checkskip.c_str(), X_OK) == 0 &&
      !succeeds({std::filesystem::absolute(checkskip).string()}, std::filesystem::path(test).parent_path().string()))
    return fmt::format("{} failed", std::filesystem::path(checkskip).filename().string());
  if (!criu_cli.empty())
    for (const std::string& feature : desc.features)
      if (!succeeds({criu_cli, "check", "--feature", feature}, "/"))
        return fmt::format("no {} feature ({} check --feature {} failed)", feature, criu_cli, feature);
  return std::nullopt;
}

}  // namespace flakelab::scenarios::zdtm
