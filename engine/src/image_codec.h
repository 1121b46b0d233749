// Between an Image and the payloads of its two files: the process file's tree
// records and every process's part of the pages payload. Shared by the in-memory
// codec (image_codec.cpp) and image directories (image_dir.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// The process file parsed; the pages are set by split_pages(). Returns the format
// version. A tree (version 2 and 3) is split into Image.tree (records without
// their Process) and Image.processes (the live ones' Process, root first); a
// version 1 file gives Image.processes its one process and no tree records.
uint32_t parse_process(std::span<const uint8_t> process_file, const std::string& process_name, Image& image);

// Hands each live process its part of the pages payload (version 1: all of it;
// version 2 and 3: each process's in tree order, Process.pages_bytes long). Parts
// of a mapped payload are views of it, not copies.
void split_pages(Image& image, PageBytes payload, const std::string& pages_name);

// ImageError unless the two files are of one format version.
void check_versions_match(uint32_t process_version, uint32_t pages_version, const std::string& pages_name);

// The tree process file's payload: the tree records with every live Process put back.
std::string serialize_tree(const Image& image);

}  // namespace flakelab::engine
