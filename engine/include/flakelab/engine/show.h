// Human- and script-readable views of an image, for `flakelab show -D DIR [--json]`.
#pragma once

#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// A summary: process attributes, threads, mappings, files, pipes, signals.
std::string show_image_text(const Image& image);

// The metadata as JSON (protobuf's JSON mapping: bytes fields are base64), plus
// the size of the page data.
std::string show_image_json(const Image& image);

}  // namespace flakelab::engine
