// Progress of a run on stderr: a line rewritten in place on a terminal, else one plain
// line every few seconds ("compel/infect: 400/1000 done, 0 failed, 1650 trials/s").
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace flakelab::harness {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::FILE* out);
  void update(int64_t done, int64_t failed);
  void finish(int64_t done, int64_t failed);

 private:
  void print(int64_t done, int64_t failed, bool final);

  std::string label_;
  int64_t total_;
  std::FILE* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  bool printed_ = false;
};

}  // namespace flakelab::harness
