#include "flakelab/harness/trial_dir.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "flakelab/harness/error.h"

namespace flakelab::harness {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& parent, const std::string& prefix) {
  std::string base = parent;
  if (base.empty()) {
    const char* tmp = ::getenv("TMPDIR");
    struct statfs shm {};
    if (tmp != nullptr && *tmp != '\0') {
      base = tmp;
    } else if (::statfs("/dev/shm", &shm) == 0 && shm.f_type == TMPFS_MAGIC && ::access("/dev/shm", W_OK) == 0) {
      base = "/dev/shm";
    } else {
      base = "/tmp";
    }
  }
  std::string pattern = base + "/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw os_error("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);  // nothing better to do with an error in a destructor
}

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
