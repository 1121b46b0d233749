// Image directories (image_dir.cpp; read_image_dir/write_image_dir are in image.h):
// what the dump that writes its image as it goes needs beside PagesFileWriter.
#pragma once

#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// DIR/process.img for `image`, written atomically in the format version
// write_image_dir() gives it (3 for images with tree records, 1 otherwise).
void write_process_file(const Image& image, const std::string& dir);

// Before a new pages file takes its place: a process file from an earlier dump
// must not meet it.
void remove_stale_process_file(const std::string& dir);

}  // namespace flakelab::engine
