// Addresses and bit sets in error messages: one spelling ("0x7ffd1234") everywhere.
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::base {

// Lower-case hexadecimal with a 0x prefix; 0 is "0x0".
std::string hex(uint64_t value);

}  // namespace flakelab::base
