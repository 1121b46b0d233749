#include "tree_image.h"

#include <signal.h>

#include <map>
#include <set>

#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

constexpr uint32_t kPidMax = 4194304;  // PID_MAX_LIMIT on 64-bit

std::string field(int i, const char* name) { return "processes[" + std::to_string(i) + "]." + name; }

}  // namespace

bool restorable_exit_status(uint32_t status) {
  if (status > 0xffff) return false;
  uint32_t low = status & 0x7f;
  if (low == 0) return (status & 0xff) == 0;                  // exited: code in bits 8-15
  // Killed by a signal whose default action kills (restore sends it again), no core.
  const uint32_t harmless[] = {SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH};
  for (uint32_t sig : harmless)
    if (low == sig) return false;
  return low != 0x7f && low <= 64 && (status & 0xff00) == 0 && !(status & 0x80);
}

std::optional<TreeProblem> check_tree_records(const pb::TreeImage& tree) {
  const auto& ps = tree.processes();
  if (ps.empty()) return TreeProblem{"processes", "a tree has at least its root"};
  if (static_cast<uint64_t>(ps.size()) > ImageLimits::kMaxTreeProcesses)
    return TreeProblem{"processes", "count " + std::to_string(ps.size()) + " exceeds the limit of " +
                                        std::to_string(ImageLimits::kMaxTreeProcesses)};
  std::map<uint32_t, int> index;  // pid -> record
  for (int i = 0; i < ps.size(); ++i) {
    const auto& r = ps[i];
    std::string who = "pid " + std::to_string(r.pid());
    if (r.pid() == 0 || r.pid() > kPidMax) return TreeProblem{field(i, "pid"), who + " is out of range"};
    if (!index.emplace(r.pid(), i).second) return TreeProblem{field(i, "pid"), who + " appears twice"};
    // 0: a group or session led from outside the dumper's pid namespace (a
    // harness trial's victim sees its parent's that way).
    if (r.pgid() > kPidMax) return TreeProblem{field(i, "pgid"), who + ": group " + std::to_string(r.pgid()) + " is out of range"};
    if (r.sid() > kPidMax) return TreeProblem{field(i, "sid"), who + ": session " + std::to_string(r.sid()) + " is out of range"};
    if (r.exit_signal() > 64) return TreeProblem{field(i, "exit_signal"), who + ": " + std::to_string(r.exit_signal()) + " is not a signal"};
    if (r.comm().size() > 15 || r.comm().find('\0') != std::string::npos)
      return TreeProblem{field(i, "comm"), who + ": not a valid task name (at most 15 bytes, no NUL)"};
    if (i == 0 && r.zombie()) return TreeProblem{field(i, "zombie"), "the root pid " + std::to_string(r.pid()) + " cannot be a zombie"};
    if (r.zombie() && !restorable_exit_status(r.exit_status()))
      return TreeProblem{field(i, "exit_status"), who + ": wait status " + std::to_string(r.exit_status()) +
                                                      " is not an exit code or a signal without core dump"};
    if (i > 0) {
      auto parent = index.find(r.ppid());
      if (parent == index.end() || parent->second >= i)
        return TreeProblem{field(i, "ppid"), who + ": parent " + std::to_string(r.ppid()) + " is not an earlier process of the tree"};
      if (ps[parent->second].zombie())
        return TreeProblem{field(i, "ppid"), who + ": parent " + std::to_string(r.ppid()) + " is a zombie"};
    }
  }
  const auto& root = ps[0];
  bool root_external = root.sid() != root.pid();
  if (root_external && index.count(root.sid()))
    return TreeProblem{field(0, "sid"), "root pid " + std::to_string(root.pid()) + ": session " + std::to_string(root.sid()) +
                                            " is led by one of its descendants"};
  for (int i = 0; i < ps.size(); ++i) {
    const auto& r = ps[i];
    std::string who = "pid " + std::to_string(r.pid());
    if (r.sid() == r.pid()) {
      if (r.pgid() != r.pid())
        return TreeProblem{field(i, "pgid"), who + " leads session " + std::to_string(r.sid()) + " but not its own group"};
    } else if (i > 0 && r.sid() != ps[index.at(r.ppid())].sid()) {
      return TreeProblem{field(i, "sid"), who + " is in session " + std::to_string(r.sid()) + ", its parent pid " +
                                              std::to_string(r.ppid()) + " in session " +
                                              std::to_string(ps[index.at(r.ppid())].sid()) +
                                              " (a session left behind by a later setsid() of the parent, or whose "
                                              "leader is dead): not supported"};
    }
    if (r.pgid() == r.pid()) continue;
    auto leader = index.find(r.pgid());
    if (leader != index.end()) {
      const auto& l = ps[leader->second];
      if (l.pgid() != l.pid() || l.sid() != r.sid())
        return TreeProblem{field(i, "pgid"), who + ": group " + std::to_string(r.pgid()) + " is not led by pid " +
                                                 std::to_string(l.pid()) + " in the same session"};
      continue;
    }
    // A group led from outside the tree: only the root's, when the root's session
    // is outside the tree too (both are the restorer's on restore).
    if (r.pgid() != root.pgid() || root.pgid() == root.pid() || r.sid() != root.sid() || !root_external)
      return TreeProblem{field(i, "pgid"), who + " is in group " + std::to_string(r.pgid()) +
                                               " whose leader is not in the tree (outside it or dead), and it is not "
                                               "the root's inherited group: not supported"};
  }
  return std::nullopt;
}

void validate_tree(const Image& image, const std::string& process_name) {
  if (auto problem = check_tree_records(image.tree)) throw ImageError(process_name, problem->field, problem->problem);
  const auto& ps = image.tree.processes();
  size_t next = 0;  // the live processes, in the order of their records
  std::vector<const pb::Process*> live;
  for (int i = 0; i < ps.size(); ++i) {
    if (ps[i].has_process()) throw ImageError(process_name, field(i, "process"), "set in memory (belongs in Image)");
    if (ps[i].zombie()) continue;  // never the root: check_tree_records() refused that
    const pb::Process* p = next < image.processes.size() ? &image.processes[next++].process : nullptr;
    if (!p) throw ImageError(process_name, field(i, "pid"), "pid " + std::to_string(ps[i].pid()) + " has no process image");
    if (p->pid() != ps[i].pid())
      throw ImageError(process_name, field(i, "pid"), "pid " + std::to_string(ps[i].pid()) + " but its process image is pid " +
                                                          std::to_string(p->pid()));
    live.push_back(p);
  }
  if (next != image.processes.size())
    throw ImageError(process_name, "processes", std::to_string(image.processes.size() - next) +
                                                    " process images without a tree record");
  // Files restored as one object must agree on what the object is.
  std::map<uint32_t, const pb::File*> shared;
  for (const pb::Process* p : live)
    for (int i = 0; i < p->files_size(); ++i) {
      const auto& f = p->files(i);
      if (f.tree_file() == 0) continue;
      auto [it, fresh] = shared.emplace(f.tree_file(), &f);
      if (fresh) continue;
      const pb::File& first = *it->second;
      if (first.kind() != f.kind() || first.flags() != f.flags() || first.pipe_id() != f.pipe_id() ||
          first.fifo_id() != f.fifo_id() || first.saved_file() != f.saved_file() || first.path() != f.path())
        throw ImageError(process_name, "files[" + std::to_string(i) + "].tree_file",
                         "pid " + std::to_string(p->pid()) + ": shared file " + std::to_string(f.tree_file()) +
                             " differs from the same file in another process");
    }
  if (shared.size() > ImageLimits::kMaxFds * 16)
    throw ImageError(process_name, "tree_file", "too many shared files");
}

}  // namespace flakelab::engine
