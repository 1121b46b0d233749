#include "fs_identity.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

// setfsuid/setfsgid return the previous value and never fail visibly: asking
// again with an impossible id (-1) reads the value back without changing it.
uid_t raw_setfsuid(uid_t id) { return static_cast<uid_t>(syscall(SYS_setfsuid, id)); }
gid_t raw_setfsgid(gid_t id) { return static_cast<gid_t>(syscall(SYS_setfsgid, id)); }
uid_t thread_fsuid() { return raw_setfsuid(static_cast<uid_t>(-1)); }
gid_t thread_fsgid() { return raw_setfsgid(static_cast<gid_t>(-1)); }

// Only this thread's supplementary groups (glibc's setgroups() changes every thread's).
void set_thread_groups(const std::vector<gid_t>& groups, const std::string& what) {
  if (syscall(SYS_setgroups, groups.size(), groups.data()) != 0) throw_errno(what + ": setgroups");
}

void switch_to(const FsIdentity& id, const std::string& what) {
  // Groups first: setgroups needs CAP_SETGID, which a non-zero fsuid does not take away
  // (only the file capabilities go), but doing it first keeps the order obvious.
  set_thread_groups(id.groups, what);
  raw_setfsgid(id.fsgid);
  if (thread_fsgid() != id.fsgid) throw EngineError(what + ": setfsgid " + std::to_string(id.fsgid) + " was not taken");
  raw_setfsuid(id.fsuid);
  if (thread_fsuid() != id.fsuid) throw EngineError(what + ": setfsuid " + std::to_string(id.fsuid) + " was not taken");
}

}  // namespace

FsIdentity current_fs_identity() {
  FsIdentity id;
  id.fsuid = thread_fsuid();
  id.fsgid = thread_fsgid();
  int n = static_cast<int>(syscall(SYS_getgroups, 0, nullptr));
  if (n > 0) {
    id.groups.resize(static_cast<size_t>(n));
    n = static_cast<int>(syscall(SYS_getgroups, n, id.groups.data()));
    id.groups.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  return id;
}

FsIdentity read_fs_identity(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in(path);
  if (!in) throw_errno("open " + path);
  FsIdentity id;
  bool uid = false, gid = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line.substr(line.find(':') == std::string::npos ? line.size() : line.find(':') + 1));
    unsigned long real, effective, saved, fs;
    if (line.rfind("Uid:", 0) == 0 && (fields >> real >> effective >> saved >> fs)) {
      id.fsuid = static_cast<uid_t>(fs);
      uid = true;
    } else if (line.rfind("Gid:", 0) == 0 && (fields >> real >> effective >> saved >> fs)) {
      id.fsgid = static_cast<gid_t>(fs);
      gid = true;
    } else if (line.rfind("Groups:", 0) == 0) {
      unsigned long g;
      while (fields >> g) id.groups.push_back(static_cast<gid_t>(g));
    }
  }
  if (!uid || !gid) throw EngineError(path + ": no Uid/Gid lines (the process is gone?)");
  return id;
}

std::optional<FsIdentity> recorded_fs_identity(const pb::Process& p) {
  if (!p.has_fs_identity()) return std::nullopt;
  FsIdentity id;
  id.fsuid = p.fs_identity().fsuid();
  id.fsgid = p.fs_identity().fsgid();
  id.groups.assign(p.fs_identity().groups().begin(), p.fs_identity().groups().end());
  return id;
}

void record_fs_identity(const FsIdentity& id, pb::Process& p) {
  auto* r = p.mutable_fs_identity();
  r->set_fsuid(id.fsuid);
  r->set_fsgid(id.fsgid);
  r->clear_groups();
  for (gid_t g : id.groups) r->add_groups(g);
}

FsIdentityScope::FsIdentityScope(const std::optional<FsIdentity>& id, const std::string& what) {
  if (!id) return;
  FsIdentity current = current_fs_identity();
  if (current == *id) return;  // restoring as the image's own identity (root restoring root): nothing to switch
  saved_ = std::move(current);
  try {
    switch_to(*id, what + " as fsuid " + std::to_string(id->fsuid));
  } catch (...) {
    switch_to(*saved_, what + ": back to fsuid " + std::to_string(saved_->fsuid));
    throw;
  }
}

FsIdentityScope::~FsIdentityScope() {
  if (!saved_) return;
  // Getting root's identity back cannot fail for a thread that had it; if it
  // did, going on with the wrong identity would be worse than stopping.
  try {
    switch_to(*saved_, "restore the restorer's fs identity");
  } catch (const std::exception& e) {
    fprintf(stderr, "flakelab: %s\n", e.what());
    std::abort();
  }
}

}  // namespace flakelab::engine
