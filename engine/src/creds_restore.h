// Restoring credentials and seccomp filters (Thread.creds, Process.seccomp_filters)
// by remote syscalls in each thread, the last state set before it leaves the
// trampoline. Dump: creds_dump.h.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "flakelab/compel/seized_thread.h"
#include "flakelab/engine/image.h"
#include "trampoline.h"

namespace spdlog {
class logger;
}

namespace flakelab::engine {

// Why this restorer cannot give some thread of `image` exactly its recorded
// credentials, naming the pid, tid and what is missing (a capability, a uid it
// cannot become, a securebit it cannot change), or "". Checked before anything
// is created.
std::string check_credentials_grantable(const Image& image);

// Gives thread `index` of `p` (seized; every thread of the process exists) its
// credentials: the leader first installs the filters every thread shares (TSYNC),
// then each thread its own filters, loginuid, groups, gids and uids (caps kept by
// SECBIT_NO_SETUID_FIXUP), inheritable caps, ambient, bounding, securebits, the
// final capsets, no_new_privs and strict mode. Filters are installed while the
// thread is still privileged; ptrace keeps them suspended
// (PTRACE_O_SUSPEND_SECCOMP) until the thread is released, which is when they take
// effect. Then checks /proc against the image. A loginuid the kernel refuses is
// skipped and said in `skipped`. Throws EngineError.
void restore_credentials(spdlog::logger* log, compel::SeizedThread& th, pid_t pid, const pb::Process& p, int index,
                         const Trampoline& t, std::vector<std::string>* skipped);

}  // namespace flakelab::engine
