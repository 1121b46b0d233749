// What a report can link to of a trial's kept directory (`flakelab run --keep-artifacts`):
// the directory and the files the harness keeps there (trial.txt, output.log, engine.log,
// images/), as links relative to where the report page is written.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flakelab::results {

struct ArtifactLink {
  std::string name;  // "trial-7/", "output.log", "images/"
  std::string href;  // relative to the page, percent-encoded
};

struct KeptArtifacts {
  std::string path;                 // as recorded; "" when nothing was kept
  bool found = false;               // the directory exists on this machine
  std::vector<ArtifactLink> links;  // the directory first, then the files present in it
};

// `page_dir`: the directory the page is written to ("" = the current directory). A relative
// `artifact_path` is taken from the current directory: `flakelab run` records the path it was
// given, relative to where it ran, and the report usually runs there too. A merged database's
// paths from other machines are not found here and get no links.
KeptArtifacts find_kept_artifacts(const std::string& artifact_path, const std::string& page_dir);

// A relative path as an href: '/' and RFC 3986 unreserved characters kept, the rest %XX.
std::string href_of_path(std::string_view path);

}  // namespace flakelab::results
