#include "flakelab/base/hex.h"

#include <charconv>

namespace flakelab::base {

std::string hex(uint64_t value) {
  char buf[2 + 16];
  buf[0] = '0';
  buf[1] = 'x';
  auto end = std::to_chars(buf + 2, buf + sizeof(buf), value, 16).ptr;
  return std::string(buf, end);
}

}  // namespace flakelab::base
