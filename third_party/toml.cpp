// toml++'s compiled part (TOML_HEADER_ONLY=0), built from the installed header (Debian
// ships libtomlplusplus only as a shared library), for the statically linked flakelab
// executable. See CMakeLists.txt here.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
