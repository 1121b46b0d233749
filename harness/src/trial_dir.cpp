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
