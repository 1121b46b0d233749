# The sources of the image format library (decode, validate, encode), relative to
# engine/. One list for the main build and for the standalone fuzzer project, so
# the fuzzer always links exactly what restore uses to read images.
set(FLAKELAB_ENGINE_IMAGE_SOURCES
  src/crc32c.cpp
  src/error.cpp
  src/image_file.cpp
  src/image_validate.cpp
  src/page_bytes.cpp
  src/saved_image.cpp
  src/show.cpp
  src/tree_image.cpp
  src/unix_image.cpp)
