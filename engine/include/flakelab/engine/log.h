// The engine's log. Dump and restore write to the spdlog logger their options name
// (DumpOptions::log, RestoreOptions::log); without one they log nothing and pay one
// pointer test per step. Levels follow CRIU's -v: -v1 errors, -v2 warnings, -v3 one
// line per dump or restore with what it did, -v4 every step with its duration.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

namespace spdlog {
class logger;
}

namespace flakelab::engine {

// The spdlog level of CRIU's -v0 .. -v4 (off, err, warn, info, debug). Throws
// std::invalid_argument outside 0..4.
spdlog::level::level_enum log_level_for_verbosity(int verbosity);

// A logger for the engine at `verbosity` that writes to `out` (a trial's log file, a
// string stream in tests) with the engine's line format: seconds since the logger was
// made, the level, the message ("(0.001234) debug: dump pid 42: freeze: 0.210 ms").
std::shared_ptr<spdlog::logger> make_engine_log(std::ostream& out, int verbosity);

// The same format for a logger made elsewhere (the CLI's stderr or -o FILE sink).
void use_engine_log_format(spdlog::logger& log);

}  // namespace flakelab::engine
