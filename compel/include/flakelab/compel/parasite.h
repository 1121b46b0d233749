// A parasite living inside a seized process: infect, talk to it, cure.
//
// Infection maps one memfd into the victim (via remote syscalls in the main thread)
// and into the injector, copies the blob there and starts it on its own stack. The
// parasite connects back over an abstract SOCK_SEQPACKET unix socket and serves
// fixed-size commands. Cure asks it to finish and closes the socket; the parasite
// then closes its end, unmaps itself and returns through the return frame
// (remote_session.h), with the injector following it syscall by syscall. If the
// injector dies at any point, the same happens without it: from the first mmap on,
// the session's return step is undo code in the new page that closes the memfd's
// fd and unmaps the page (undo_code.h); once started, the parasite sees its socket
// close and leaves as above.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flakelab/compel/mapping.h"
#include "flakelab/compel/parasite_abi.h"
#include "flakelab/compel/parasite_blob.h"
#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::compel {

struct InfectOptions {
  size_t stack_size = 64 * 1024;
  size_t guard_size = 4096;          // the stack's own guard zone, inside the mapping
  size_t payload_size = 64 * 1024;   // shared command payload
  RemoteAddr address;                // null: let the kernel choose; else map exactly here
  RemoteAddr end_address;            // else, if set: map so that the mapping ends here
  int connect_timeout_ms = 5000;
  // Called at each step of infection and cure ("mapped", "started", "fini-acked",
  // "taken-back", "unmapped"); lets tests and scenarios act at exact points.
  std::function<void(std::string_view step)> on_step;
};

struct Sigaction {
  int signo = 0;
  uint64_t handler = 0;
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};

struct ReceivedFd {
  int victim_fd = -1;
  base::UniqueFd fd;    // a duplicate in the injector's table
};

// Where the parasite lives in the victim; offsets relative to `base` (they index
// the injector's view of the same memfd too).
struct ParasiteLayout {
  RemoteAddr base;
  size_t total = 0;
  size_t blob_size = 0;
  size_t args_offset = 0;
  size_t undo_offset = 0;      // undo code (undo_code.h), after the args
  size_t payload_offset = 0;
  size_t stack_offset = 0;     // lowest stack byte
  size_t stack_top_offset = 0; // initial rsp
  size_t guard_offset = 0;     // guard zone [guard_offset, guard_offset + guard_size)
  size_t guard_size = 0;

  RemoteAddr end() const { return base + total; }
  bool contains(RemoteAddr a) const { return a >= base && a < end(); }
  RemoteAddr args() const { return base + args_offset; }
  RemoteAddr undo() const { return base + undo_offset; }
  RemoteAddr stack_top() const { return base + stack_top_offset; }
  RemoteAddr guard_begin() const { return base + guard_offset; }
  RemoteAddr guard_end() const { return base + guard_offset + guard_size; }
};

class Parasite {
 public:
  Parasite(SeizedProcess& process, const ParasiteBlob& blob, const InfectOptions& options = {});
  ~Parasite();   // cures if still infected (errors are logged, never thrown)
  Parasite(const Parasite&) = delete;
  Parasite& operator=(const Parasite&) = delete;

  std::vector<Sigaction> get_sigactions();
  flk_stack get_sigaltstack();
  std::vector<flk_itimerval> get_itimers();   // ITIMER_REAL, _VIRTUAL, _PROF
  // Every fd of the victim (except the parasite's socket), sent over SCM_RIGHTS.
  std::vector<ReceivedFd> receive_fds();
  // A user-defined command (cmd >= FLK_CMD_USER). Returns the reply's `arg`; throws
  // CompelError with the parasite's error if it failed.
  uint32_t user_command(uint32_t cmd, uint32_t arg = 0);

  // Stops the parasite and restores the victim. Throws on failure (after still
  // releasing the victim as intact as possible).
  void cure();
  bool infected() const { return infected_; }

  const ParasiteLayout& layout() const { return layout_; }
  std::span<uint8_t> payload();
  // The injector's view of the whole mapping (shared with the victim).
  std::span<uint8_t> local_view();
  // First offset in the guard zone whose byte changed, if any.
  std::optional<size_t> guard_zone_damage() const;
  // Text the parasite left in its log area.
  std::string parasite_log() const;
  int parasite_status() const;
  pid_t pid() const { return process_.pid(); }

  // Gives up on the parasite the way a failing injector would: closes the control
  // socket without FINI. The parasite notices ("Trimmed message received (16/0)"),
  // returns to the victim by itself, and the mapping is then removed. Returns what
  // the parasite logged. Never throws.
  std::string abandon() noexcept;

  // Test hook: sends raw bytes on the control socket (e.g. a short message).
  void send_raw_for_testing(const void* data, size_t size);

  static constexpr uint8_t kGuardPattern = 0xa5;

 private:
  void map_into_victim(const ParasiteBlob& blob, const InfectOptions& options);
  void start_daemon(const InfectOptions& options);
  flk_ctl_msg call(uint32_t cmd, uint32_t arg);
  void send_msg(const flk_ctl_msg& msg);
  flk_ctl_msg recv_msg(std::vector<base::UniqueFd>* fds);
  flk_parasite_args& args();
  const flk_parasite_args& args() const;
  std::string describe_parasite_failure() const;
  void finish(bool throw_errors);
  void take_back_thread();
  void remove_from_victim();
  bool still_mapped() const;
  RemoteAddr free_address(RemoteAddr want, size_t size) const;

  SeizedProcess& process_;
  std::unique_ptr<RemoteSession> session_;
  ParasiteLayout layout_;
  base::UniqueFd memfd_;
  Mapping local_;
  base::UniqueFd listener_;
  base::UniqueFd ctl_;
  bool infected_ = false;
  bool mapped_in_victim_ = false;
  bool started_ = false;   // the thread has run parasite code
  std::function<void(std::string_view)> on_step_;
  void step(std::string_view name) {
    if (on_step_) on_step_(name);
  }
};

}  // namespace flakelab::compel
