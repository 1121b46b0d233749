// Small helpers shared by the engine's dump/restore tests.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/victims/victims.h"

namespace flakelab::engine::testing {

// The engine tests replay the victims of scenarios/victims.
using namespace flakelab::victims;

inline bool alive(pid_t pid) { return kill(pid, 0) == 0; }

// The value after "Key:" in /proc/PID/status, or "".
inline std::string proc_status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
  return "";
}

// Owns a test child across dump/restore (same pid throughout).
struct ChildPid {
  pid_t pid = -1;
  ~ChildPid() { kill_child(pid); }
};

// Waits for a child and returns its exit code; a death by signal fails the test.
inline int exit_code(pid_t pid) {
  int status = wait_exit(pid);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace flakelab::engine::testing
