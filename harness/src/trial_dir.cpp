#include "flakelab/harness/trial_dir.h"

#include <errno.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include "flakelab/harness/error.h"

namespace flakelab::harness {

namespace fs = std::filesystem;

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) throw os_error("mkdir " + dir);
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) throw HarnessError(errno_text("remove " + dir, ec.value()));
}

void move_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  if (ec) throw HarnessError(errno_text("create directory " + fs::path(to).parent_path().string(), ec.value()));
  fs::rename(from, to, ec);
  if (!ec) return;
  if (ec.value() != EXDEV) throw HarnessError(errno_text("rename " + from + " to " + to, ec.value()));
  fs::copy(from, to, fs::copy_options::recursive, ec);
  if (ec) throw HarnessError(errno_text("copy " + from + " to " + to, ec.value()));
  remove_tree(from);
}

}  // namespace flakelab::harness
