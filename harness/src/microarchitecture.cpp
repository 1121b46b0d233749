#include "flakelab/harness/microarchitecture.h"

#include <iterator>

namespace flakelab::harness {
namespace {

struct Entry {
  const char* vendor;
  int family;
  int model_first;
  int model_last;
  const char* codename;
  const char* uarch;
};

// First match wins; ranges are inclusive.
constexpr Entry kTable[] = {
    // AMD family 0x17: Zen, Zen+, Zen 2.
    {"AuthenticAMD", 0x17, 0x00, 0x07, "Naples / Summit Ridge", "Zen"},
    {"AuthenticAMD", 0x17, 0x08, 0x0f, "Pinnacle Ridge / Colfax", "Zen+"},
    {"AuthenticAMD", 0x17, 0x10, 0x17, "Raven Ridge", "Zen"},
    {"AuthenticAMD", 0x17, 0x18, 0x1f, "Picasso", "Zen+"},
    {"AuthenticAMD", 0x17, 0x20, 0x2f, "Dali", "Zen"},
    {"AuthenticAMD", 0x17, 0x30, 0x3f, "Rome / Castle Peak", "Zen 2"},
    {"AuthenticAMD", 0x17, 0x40, 0x4f, "Zen 2 part", "Zen 2"},
    {"AuthenticAMD", 0x17, 0x50, 0x5f, "Zen part", "Zen"},
    {"AuthenticAMD", 0x17, 0x60, 0x6f, "Renoir / Lucienne", "Zen 2"},
    {"AuthenticAMD", 0x17, 0x70, 0x7f, "Matisse", "Zen 2"},
    {"AuthenticAMD", 0x17, 0x90, 0x91, "Van Gogh", "Zen 2"},
    {"AuthenticAMD", 0x17, 0xa0, 0xaf, "Mendocino", "Zen 2"},
    // AMD family 0x19: Zen 3 and Zen 4.
    {"AuthenticAMD", 0x19, 0x00, 0x0f, "Milan / Chagall", "Zen 3"},
    {"AuthenticAMD", 0x19, 0x10, 0x1f, "Genoa / Storm Peak", "Zen 4"},
    {"AuthenticAMD", 0x19, 0x20, 0x2f, "Vermeer", "Zen 3"},
    {"AuthenticAMD", 0x19, 0x30, 0x3f, "Zen 3 part", "Zen 3"},
    {"AuthenticAMD", 0x19, 0x40, 0x4f, "Rembrandt", "Zen 3+"},
    {"AuthenticAMD", 0x19, 0x50, 0x5f, "Cezanne / Barcelo", "Zen 3"},
    {"AuthenticAMD", 0x19, 0x60, 0x6f, "Raphael", "Zen 4"},
    {"AuthenticAMD", 0x19, 0x70, 0x7f, "Phoenix / Hawk Point", "Zen 4"},
    {"AuthenticAMD", 0x19, 0x80, 0x9f, "Zen 4 part", "Zen 4"},
    {"AuthenticAMD", 0x19, 0xa0, 0xaf, "Bergamo / Siena", "Zen 4c"},
    // AMD family 0x1a: Zen 5 and Zen 6.
    {"AuthenticAMD", 0x1a, 0x00, 0x0f, "Turin", "Zen 5"},
    {"AuthenticAMD", 0x1a, 0x10, 0x1f, "Turin Dense", "Zen 5c"},
    {"AuthenticAMD", 0x1a, 0x20, 0x2f, "Strix Point", "Zen 5"},
    {"AuthenticAMD", 0x1a, 0x40, 0x4f, "Granite Ridge", "Zen 5"},
    {"AuthenticAMD", 0x1a, 0x50, 0x5f, "Zen 6 part", "Zen 6"},
    {"AuthenticAMD", 0x1a, 0x60, 0x6f, "Krackan Point", "Zen 5"},
    {"AuthenticAMD", 0x1a, 0x70, 0x7f, "Strix Halo", "Zen 5"},
    {"AuthenticAMD", 0x1a, 0x80, 0xaf, "Zen 6 part", "Zen 6"},
    {"AuthenticAMD", 0x1a, 0xc0, 0xcf, "Zen 6 part", "Zen 6"},
    // Intel family 6, server.
    {"GenuineIntel", 6, 0x3f, 0x3f, "Haswell-X", "Haswell"},
    {"GenuineIntel", 6, 0x4f, 0x4f, "Broadwell-X", "Broadwell"},
    {"GenuineIntel", 6, 0x56, 0x56, "Broadwell-D", "Broadwell"},
    {"GenuineIntel", 6, 0x55, 0x55, "Skylake-SP / Cascade Lake / Cooper Lake", "Skylake"},
    {"GenuineIntel", 6, 0x6a, 0x6a, "Ice Lake-SP", "Sunny Cove"},
    {"GenuineIntel", 6, 0x6c, 0x6c, "Ice Lake-D", "Sunny Cove"},
    {"GenuineIntel", 6, 0x8f, 0x8f, "Sapphire Rapids", "Golden Cove"},
    {"GenuineIntel", 6, 0xcf, 0xcf, "Emerald Rapids", "Raptor Cove"},
    {"GenuineIntel", 6, 0xad, 0xad, "Granite Rapids-X", "Redwood Cove"},
    {"GenuineIntel", 6, 0xae, 0xae, "Granite Rapids-D", "Redwood Cove"},
    {"GenuineIntel", 6, 0xaf, 0xaf, "Sierra Forest", "Crestmont"},
    {"GenuineIntel", 6, 0xdd, 0xdd, "Clearwater Forest", "Darkmont"},
    // Intel family 6, client.
    {"GenuineIntel", 6, 0x4e, 0x4e, "Skylake-U/Y", "Skylake"},
    {"GenuineIntel", 6, 0x5e, 0x5e, "Skylake-S/H", "Skylake"},
    {"GenuineIntel", 6, 0x8e, 0x8e, "Kaby Lake / Whiskey Lake / Comet Lake (mobile)", "Skylake"},
    {"GenuineIntel", 6, 0x9e, 0x9e, "Kaby Lake / Coffee Lake", "Skylake"},
    {"GenuineIntel", 6, 0xa5, 0xa6, "Comet Lake", "Skylake"},
    {"GenuineIntel", 6, 0x7d, 0x7e, "Ice Lake", "Sunny Cove"},
    {"GenuineIntel", 6, 0xa7, 0xa7, "Rocket Lake", "Cypress Cove"},
    {"GenuineIntel", 6, 0x8c, 0x8d, "Tiger Lake", "Willow Cove"},
    {"GenuineIntel", 6, 0x97, 0x97, "Alder Lake-S", "Golden Cove / Gracemont"},
    {"GenuineIntel", 6, 0x9a, 0x9a, "Alder Lake-P", "Golden Cove / Gracemont"},
    {"GenuineIntel", 6, 0xb7, 0xb7, "Raptor Lake-S", "Raptor Cove / Gracemont"},
    {"GenuineIntel", 6, 0xba, 0xba, "Raptor Lake-P", "Raptor Cove / Gracemont"},
    {"GenuineIntel", 6, 0xbf, 0xbf, "Raptor Lake-S", "Raptor Cove / Gracemont"},
    {"GenuineIntel", 6, 0xaa, 0xac, "Meteor Lake", "Redwood Cove / Crestmont"},
    {"GenuineIntel", 6, 0xb5, 0xb5, "Arrow Lake-U", "Lion Cove / Skymont"},
    {"GenuineIntel", 6, 0xc5, 0xc6, "Arrow Lake", "Lion Cove / Skymont"},
    {"GenuineIntel", 6, 0xbd, 0xbd, "Lunar Lake", "Lion Cove / Skymont"},
};

}  // namespace

std::optional<Microarchitecture> lookup_microarchitecture(std::string_view vendor, int family, int model) {
  for (const Entry& e : kTable) {
    if (vendor == e.vendor && family == e.family && model >= e.model_first && model <= e.model_last) {
      return Microarchitecture{e.codename, e.uarch};
    }
  }
  return std::nullopt;
}

}  // namespace flakelab::harness
