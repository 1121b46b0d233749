// Test helper: find processes by name (comm) anywhere on the system.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace flakelab::harness::testing {

// Live (or zombie) processes whose /proc/PID/comm is `name`, seen from this /proc.
inline std::vector<pid_t> processes_named(const std::string& name) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) found.push_back(std::stoi(pid));
  }
  return found;
}

}  // namespace flakelab::harness::testing
