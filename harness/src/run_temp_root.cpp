#include "flakelab/harness/run_temp_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <system_error>

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

// Field 22 of /proc/self/stat: with the pid, it names this process even after pid reuse.
std::string own_start_time() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos) return "unknown";
  std::istringstream fields(stat.substr(comm_end + 2));  // field 3 (state) onwards
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return field;
  }
  return "unknown";
}

bool old_enough(const struct stat& st) {
  const auto age = std::chrono::seconds(std::time(nullptr) - st.st_mtime);
  return age >= RunTempRoot::kUnlockedRootAge;
}

}  // namespace

RunTempRoot::RunTempRoot(const std::string& parent) : dir_(parent, kPrefix) {
  const std::string lock_path = dir_.path() + "/" + kLockName;
  lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock_) throw os_error("create " + lock_path);
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) throw os_error("flock " + lock_path);
  const std::string owner = fmt::format("pid {} start {}\n", ::getpid(), own_start_time());
  if (::write(lock_.get(), owner.data(), owner.size()) != static_cast<ssize_t>(owner.size())) {
    throw os_error("write " + lock_path);
  }
  remove_stale_roots(std::filesystem::path(dir_.path()).parent_path().string(), dir_.path());
}

int RunTempRoot::remove_stale_roots(const std::string& parent, const std::string& keep) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(parent.c_str()), ::closedir);
  if (!dir) {
    spdlog::warn("{}", errno_text("list " + parent + " for stale run roots", errno));
    return 0;
  }
  int removed = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string root = parent + "/" + name;
    if (root == keep) continue;
    struct stat st {};
    // Only our own real directories: never follow a link, never touch another user's root.
    if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) continue;
    const std::string lock_path = root + "/" + kLockName;
    base::UniqueFd lock(::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!lock) {
      if (errno != ENOENT || !old_enough(st)) continue;  // a root being created, or not ours to judge
    } else if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // its owner is alive
    }
    // Held while removing, so a second cleaner finds the lock taken or the root gone.
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    if (ec) {
      spdlog::warn("cannot remove the stale run root {}: {}", root, ec.message());
      continue;
    }
    spdlog::debug("removed the stale run root {} (its owner is dead)", root);
    ++removed;
  }
  return removed;
}

}  // namespace flakelab::harness
