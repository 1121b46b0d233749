// Human- and script-readable views of an image, for `flakelab show -D DIR [--json]`.
#pragma once

#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// A summary: process attributes, threads, mappings, files, pipes, signals.
std::string show_image_text(const Image& image);

// One line: the root's threads, mappings, page runs, KiB of pages and fds, and for a
// tree how many processes it has ("2 thread(s), 14 mapping(s), ...; a tree of 3
// processes (2 live descendants)"), as the engine and its CLI log it.
std::string image_summary(const Image& image);

// The metadata as JSON (protobuf's JSON mapping with the schema's field names;
// names and paths as strings when they are UTF-8, other bytes fields base64), plus
// "page_data_bytes".
std::string show_image_json(const Image& image);

}  // namespace flakelab::engine
