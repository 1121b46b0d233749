// A read-only shared mapping of a whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace flakelab::engine {

class MappedFile {
 public:
  // Maps `size` bytes of `fd` (`path` names it in errors).
  MappedFile(int fd, size_t size, const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace flakelab::engine
