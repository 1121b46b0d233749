#include "flakelab/harness/trial_dir.h"

#include <errno.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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

namespace {

// Copies directories, regular files and symlinks; skips sockets, FIFOs and devices (a
// zdtm test leaves its sockets there), which cannot be copied and mean nothing later.
void copy_tree_skipping_special_files(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) throw HarnessError(errno_text("create directory " + to.string(), ec.value()));
  for (fs::recursive_directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path target = to / it->path().lexically_relative(from);  // not fs::relative: it follows symlinks
    const fs::file_status status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(status)) {
      fs::create_directory(target, ec);
    } else if (fs::is_regular_file(status)) {
      fs::copy_file(it->path(), target, ec);
    } else if (fs::is_symlink(status)) {
      fs::copy_symlink(it->path(), target, ec);
    }
    if (ec) throw HarnessError(errno_text("copy " + it->path().string() + " to " + target.string(), ec.value()));
  }
  if (ec) throw HarnessError(errno_text("copy " + from.string() + " to " + to.string(), ec.value()));
}

}  // namespace

void move_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  if (ec) throw HarnessError(errno_text("create directory " + fs::path(to).parent_path().string(), ec.value()));
  fs::rename(from, to, ec);
  if (!ec) return;
  if (ec.value() != EXDEV) throw HarnessError(errno_text("rename " + from + " to " + to, ec.value()));
  copy_tree_skipping_special_files(from, to);
  remove_tree(from);
}

namespace {

constexpr std::streamoff kExcerptBytes = 2048;

// The last kExcerptBytes of `path`, from a line start; "" if missing or empty.
std::string tail_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  if (size <= 0) return "";
  const std::streamoff from = std::max<std::streamoff>(0, size - kExcerptBytes);
  in.seekg(from);
  std::string text(static_cast<size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (from > 0) {
    const size_t newline = text.find('\n');
    text.erase(0, newline == std::string::npos ? 0 : newline + 1);
  }
  return text;
}

}  // namespace

std::string log_excerpt(const std::string& dir) {
  std::string out;
  for (const char* name : {"output.log", "engine.log"}) {
    std::string text = tail_of(dir + "/" + name);
    if (text.empty()) continue;
    if (text.back() != '\n') text += '\n';
    out += fmt::format("== {} ==\n{}", name, text);
  }
  return out;
}

}  // namespace flakelab::harness
