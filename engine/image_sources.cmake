# The sources of the image format library (decode, validate, encode), relative to
# engine/. One list for the main build and for the standalone fuzzer project, so
# the fuzzer always links exactly what restore uses to read images.
set(FLAKELAB_ENGINE_IMAGE_SOURCES
  src/crc32c.cpp
  src/creds_image.cpp
  src/error.cpp
  src/image_codec.cpp
  src/image_dir.cpp
  src/image_frame.cpp
  src/image_validate.cpp
  src/kinds/epoll_record.cpp
  src/kinds/eventfd_record.cpp
  src/kinds/file_kind_traits.cpp
  src/kinds/file_record.cpp
  src/kinds/inet_sockaddr.cpp
  src/kinds/inet_socket_options.cpp
  src/kinds/inet_socket_record.cpp
  src/kinds/netlink_socket_options.cpp
  src/kinds/netlink_socket_record.cpp
  src/kinds/pipe_record.cpp
  src/kinds/signalfd_record.cpp
  src/kinds/timerfd_record.cpp
  src/kinds/unix_socket_record.cpp
  src/mapped_file.cpp
  src/page_bytes.cpp
  src/pages_file_writer.cpp
  src/payload_crc.cpp
  src/saved_image.cpp
  src/show.cpp
  src/sigbus_guard.cpp
  src/tree_image.cpp
  src/unix_image.cpp
  src/whole_file.cpp)
# What the image library takes from flakelab_base (compel/base), relative to the
# repository root: the fuzzer compiles these too, the main build links flakelab_base.
set(FLAKELAB_ENGINE_IMAGE_BASE_SOURCES
  compel/base/src/hex.cpp)

# `flakelab show --json` without reflection (the engine uses protobuf's lite
# runtime): C++ generated from the schema by proto/gen_image_json.py, into the
# current binary directory. Sets `out_var` to the generated source.
function(flakelab_generate_image_json out_var engine_dir)
  set(h ${CMAKE_CURRENT_BINARY_DIR}/image_json.h)
  set(cc ${CMAKE_CURRENT_BINARY_DIR}/image_json.cc)
  add_custom_command(OUTPUT ${h} ${cc}
                     COMMAND /usr/bin/python3 ${engine_dir}/proto/gen_image_json.py ${engine_dir}/proto/image.proto ${h} ${cc}
                     DEPENDS ${engine_dir}/proto/image.proto ${engine_dir}/proto/gen_image_json.py
                     COMMENT "Generating image_json.cc from image.proto"
                     VERBATIM)
  set(${out_var} ${cc} PARENT_SCOPE)
endfunction()
