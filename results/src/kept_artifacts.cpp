#include "flakelab/results/kept_artifacts.h"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <system_error>

namespace flakelab::results {

namespace fs = std::filesystem;

std::string href_of_path(std::string_view path) {
  std::string out;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

KeptArtifacts find_kept_artifacts(const std::string& artifact_path, const std::string& page_dir) {
  KeptArtifacts kept;
  kept.path = artifact_path;
  if (artifact_path.empty()) return kept;
  std::error_code ec;
  fs::path dir = fs::absolute(artifact_path, ec).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "trial-7/"
  if (ec || !fs::is_directory(dir, ec)) return kept;
  kept.found = true;
  const fs::path page = fs::absolute(page_dir.empty() ? fs::path(".") : fs::path(page_dir), ec).lexically_normal();
  // Relative links survive copying the page and the artifacts together; lexically, so that a
  // page directory that does not exist yet still gets the right path.
  fs::path relative = ec ? dir : dir.lexically_relative(page);
  if (relative.empty()) relative = dir;
  const std::string base = href_of_path(relative.generic_string());
  kept.links.push_back({dir.filename().string() + "/", base + "/"});
  for (const char* name : {"trial.txt", "output.log", "engine.log"}) {
    if (fs::is_regular_file(dir / name, ec)) kept.links.push_back({name, base + "/" + name});
  }
  if (fs::is_directory(dir / "images", ec)) kept.links.push_back({"images/", base + "/images/"});
  return kept;
}

}  // namespace flakelab::results
