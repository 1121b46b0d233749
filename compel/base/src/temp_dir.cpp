#include "flakelab/base/temp_dir.h"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "flakelab/base/os_error.h"

namespace flakelab::base {

TempDir::TempDir(const std::string& parent, const std::string& prefix) {
  std::string where = parent;
  if (where.empty()) {
    const char* tmp = ::getenv("TMPDIR");
    struct statfs shm {};
    if (tmp != nullptr && *tmp != '\0') {
      where = tmp;
    } else if (::statfs("/dev/shm", &shm) == 0 && shm.f_type == TMPFS_MAGIC && ::access("/dev/shm", W_OK) == 0) {
      where = "/dev/shm";
    } else {
      where = "/tmp";
    }
  }
  const std::string pattern = where + "/" + prefix + "XXXXXX";
  std::string path = pattern;  // mkdtemp fills in the X's, even when it fails
  if (::mkdtemp(path.data()) == nullptr) throw_os_error("mkdtemp " + pattern, errno);
  path_ = std::move(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);  // nothing better to do with an error in a destructor
}

}  // namespace flakelab::base
