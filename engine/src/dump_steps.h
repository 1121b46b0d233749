// The steps of dumping one process (dump_steps.cpp), which the tree dump
// (dump.cpp, dump_process()) runs for every process of the tree.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "flakelab/compel/seized_process.h"
#include "flakelab/engine/image.h"

namespace spdlog {
class logger;
}

namespace flakelab::engine {

// What makes `pid` impossible to dump, from /proc without touching it, or "".
// `tree`: every process dumped with it.
std::string check_dumpable(pid_t pid, const std::vector<pid_t>& tree);

class PagesFileWriter;

// Dumps the frozen process into image.process and image.pages (does not kill
// or release it). With `pages_to`, the pages go
// into that file at payload offset `pages_at` instead, and image.pages stays
// empty. Throws EngineError.
void dump_seized(spdlog::logger* log, compel::SeizedProcess& proc, const std::vector<pid_t>& tree, ProcessImage& image,
                 PagesFileWriter* pages_to = nullptr, uint64_t pages_at = 0);

// Leader first, then the other threads by tid.
std::vector<compel::SeizedThread*> dump_order(compel::SeizedProcess& proc);

// SIGKILL, then waits (as tracer) for every thread's death, the leader's last.
void kill_and_wait(pid_t pid, const std::vector<compel::SeizedThread*>& threads);

}  // namespace flakelab::engine
