// `flakelab dump`, `restore` and `show`: the checkpoint engine from the command
// line, with CRIU's flag names where CRIU has the same flag.
//
//   flakelab dump -t PID -D DIR [--leave-running] [-v N] [-o LOG]
//   flakelab restore -D DIR [-d|--restore-detached] [--pidfile FILE] [-v N] [-o LOG]
//   flakelab show -D DIR [--json]
#pragma once

#include <sys/types.h>

#include <string>

namespace CLI {
class App;
}

namespace flakelab::harness {

// Engine logging as CRIU spells it: -v0 nothing, -v1 errors, -v2 warnings
// (default), -v3 information, -v4 debug; -o FILE logs there instead of stderr
// (a relative FILE is taken relative to the image directory, as CRIU does).
struct EngineLogOptions {
  int verbosity = 2;
  std::string log_file;
};

struct DumpCommand {
  pid_t pid = 0;
  std::string dir;
  bool leave_running = false;
  bool ext_unix_sk = false;   // --ext-unix-sk: reconnect unix sockets with outside peers by name
  EngineLogOptions log;
};

struct RestoreCommand {
  std::string dir;
  bool detached = false;
  std::string pidfile;
  std::string unix_gc_wait;   // --unix-gc-wait=<duration>; empty: the engine's default
  EngineLogOptions log;
};

struct ShowCommand {
  std::string dir;
  bool json = false;
};

// Exit status: 0 on success, 1 when the engine failed (the message says why),
// 2 for unusable arguments. `restore` without `detached` returns the restored
// process's own exit status (128+N if a signal N killed it).
int dump_command(const DumpCommand& command);
int restore_command(const RestoreCommand& command);
int show_command(const ShowCommand& command);

// -v/--verbosity and -o/--log-file on an engine verb (harness/src/verbs/dump_verb.cpp, ...).
void add_engine_log_options(CLI::App& verb, EngineLogOptions& log);

}  // namespace flakelab::harness
