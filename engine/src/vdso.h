// The vDSO and its data pages ([vvar], and [vvar_vclock] since Linux 6.13) as one
// group: they are never copied, only moved (mremap, from inside the target) to the
// addresses the image recorded. The kernel's vDSO is the same in every process of
// this boot, so offsets found in our own copy hold in the target.
#pragma once

#include <cstdint>
#include <vector>

#include "flakelab/compel/remote_session.h"
#include "flakelab/engine/image.h"
#include "proc_files.h"

namespace flakelab::engine {

// Offset of a `syscall` instruction inside the vDSO; throws if there is none.
uint64_t vdso_syscall_offset();

// Moves the target's vDSO group (as listed in `current`, its maps) to where
// `image` had it. `busy` lists ranges a temporary location must avoid.
void move_vdso_group(compel::RemoteSession& session, const std::vector<procfs::MapEntry>& current,
                     const pb::Process& image, std::vector<std::pair<uint64_t, uint64_t>> busy);

}  // namespace flakelab::engine
