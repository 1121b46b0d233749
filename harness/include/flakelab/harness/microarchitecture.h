// flakelab's own CPU codename/microarchitecture table, keyed by vendor, family and model
// ranges (display values). libcpuid 0.6.2 predates recent parts (it calls Zen 4 Genoa
// "EPYC (Milan)" and has no Rocket Lake); this table is what `flakelab cpu` shows next to
// the library's guess. Sources: Linux arch/x86/kernel/cpu/amd.c (Zen generations by
// model range) and arch/x86/include/asm/intel-family.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flakelab::harness {

struct Microarchitecture {
  std::string codename;  // "Genoa", "Rocket Lake"
  std::string uarch;     // "Zen 4", "Cypress Cove"
};

// The table's entry for the CPU, or nullopt when the table does not know it.
std::optional<Microarchitecture> lookup_microarchitecture(std::string_view vendor, int family, int model);

}  // namespace flakelab::harness
