#include "process_refusals.h"

#include <string_view>
#include <vector>

#include "proc_files.h"

namespace flakelab::engine {
namespace {

std::string pid_text(pid_t pid) { return "pid " + std::to_string(pid); }

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    if (eol != 0) out.push_back(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
  }
  return out;
}

// Restore creates every process as a descendant of the restorer, so it shares
// the restorer's namespaces; one the process does not share would be lost.
std::string check_namespaces(pid_t pid) {
  static constexpr const char* kKinds[] = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"};
  for (const char* kind : kKinds) {
    const std::string theirs = procfs::read_link("/proc/" + std::to_string(pid) + "/ns/" + kind);
    const std::string ours = procfs::read_link(std::string("/proc/self/ns/") + kind);
    if (theirs != ours)
      return pid_text(pid) + " is in " + theirs + ", not the dumper's " + ours +
             ": namespaces are not restored (the process would come back in the restorer's)";
  }
  return "";
}

// Each line is "ID:CONTROLLERS:PATH"; restore does not move processes between
// cgroups, so a process must already be where its restorer will be.
std::string check_cgroups(pid_t pid) {
  const std::string theirs = procfs::read_file("/proc/" + std::to_string(pid) + "/cgroup");
  const std::string ours = procfs::read_file("/proc/self/cgroup");
  if (theirs == ours) return "";
  std::vector<std::string_view> mine = lines_of(ours);
  for (std::string_view line : lines_of(theirs)) {
    bool same = false;
    for (std::string_view m : mine) same = same || m == line;
    if (!same)
      return pid_text(pid) + " is in cgroup \"" + std::string(line) +
             "\", not where the dumper is: cgroup membership is not restored yet";
  }
  return pid_text(pid) + " is in fewer cgroup hierarchies than the dumper: cgroup membership is not restored yet";
}

// A chroot()ed process would get the restorer's root back.
std::string check_root(pid_t pid) {
  const std::string root = procfs::read_link("/proc/" + std::to_string(pid) + "/root");
  const std::string ours = procfs::read_link("/proc/self/root");
  if (root == ours) return "";
  return pid_text(pid) + " has root directory " + root + " (chroot): a changed root is not restored yet";
}

// /proc/PID/timers lists the timer_create() timers ("ID: 0", "signal: 14/...",
// "notify: ...", "ClockID: 1"): none of them is saved.
std::string check_posix_timers(pid_t pid) {
  const std::string text = procfs::read_file("/proc/" + std::to_string(pid) + "/timers");
  if (text.empty()) return "";
  std::string first;
  for (std::string_view line : lines_of(text)) {
    if (!first.empty()) first += ", ";
    first += line;
    if (line.rfind("ClockID:", 0) == 0) break;
  }
  return pid_text(pid) + " has POSIX timers (timer_create: " + first + "): they are not saved yet";
}

}  // namespace

std::string check_unsaved_process_state(pid_t pid) {
  for (auto check : {check_namespaces, check_cgroups, check_root, check_posix_timers})
    if (std::string why = check(pid); !why.empty()) return why;
  return "";
}

}  // namespace flakelab::engine
