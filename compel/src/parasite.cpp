#include "flakelab/compel/parasite.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <cstring>
#include <random>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "flakelab/base/hex.h"
#include "flakelab/base/scm_rights.h"
#include "flakelab/base/syscall_restart.h"
#include "flakelab/compel/error.h"
#include "flakelab/base/procfs.h"
#include "flakelab/compel/remote_memory.h"
#include "undo_code.h"

namespace flakelab::compel {
namespace {

constexpr size_t kPage = 4096;
constexpr int kReplyTimeoutMs = 10000;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static_assert(sizeof(flk_ctl_msg) == 16);

const char* command_name(uint32_t cmd) {
  switch (cmd) {
    case FLK_CMD_FINI: return "FINI";
    case FLK_CMD_GET_SIGACTIONS: return "GET_SIGACTIONS";
    case FLK_CMD_GET_SIGALTSTACK: return "GET_SIGALTSTACK";
    case FLK_CMD_GET_ITIMERS: return "GET_ITIMERS";
    case FLK_CMD_SEND_FDS: return "SEND_FDS";
    default: return cmd >= FLK_CMD_USER ? "USER" : "UNKNOWN";
  }
}

}  // namespace

Parasite::Parasite(SeizedProcess& process, const ParasiteBlob& blob, const InfectOptions& options)
    : process_(process), on_step_(options.on_step) {
  if (!blob.data || blob.size == 0) throw CompelError("infect: empty parasite blob", EINVAL);
  session_ = std::make_unique<RemoteSession>(process_.leader());
  try {
    map_into_victim(blob, options);
    step("mapped");
    start_daemon(options);
    infected_ = true;
    step("started");
  } catch (...) {
    finish(false);
    throw;
  }
}

Parasite::~Parasite() { finish(false); }

flk_parasite_args& Parasite::args() { return *reinterpret_cast<flk_parasite_args*>(local_.data() + layout_.args_offset); }
const flk_parasite_args& Parasite::args() const {
  return *reinterpret_cast<const flk_parasite_args*>(local_.data() + layout_.args_offset);
}

std::span<uint8_t> Parasite::payload() { return {local_.data() + layout_.payload_offset, layout_.stack_offset - layout_.payload_offset}; }
std::span<uint8_t> Parasite::local_view() { return {local_.data(), local_.size()}; }

// `want` if [want, want + size) is free in the victim (EEXIST if not), else (null)
// the highest free range that fits with a page to spare on each side, away from
// stacks that grow down.
RemoteAddr Parasite::free_address(RemoteAddr want, size_t size) const {
  const pid_t pid = process_.pid();
  std::vector<base::procfs::MapEntry> maps;
  try {
    maps = base::procfs::read_maps(pid, false);
  } catch (const std::exception& e) {
    throw CompelError(fmt::format("infect pid {}: {}", pid, e.what()), ESRCH);
  }
  if (!want.is_null()) {
    for (const auto& m : maps)
      if (m.start < want.as_int() + size && m.end > want.as_int())
        throw_errno(fmt::format("infect pid {}: {} bytes at {} overlap {}", pid, size, want, m.describe()), EEXIST);
    return want;
  }
  constexpr uint64_t kUserTop = 0x7ffffffff000ULL;
  for (size_t i = maps.size(); i-- > 1;) {
    const auto& upper = maps[i];
    const auto& lower = maps[i - 1];
    if (upper.start > kUserTop || upper.growsdown || upper.path == "[stack]") continue;
    if (upper.start < lower.end + size + 2 * kPage) continue;
    return RemoteAddr(upper.start - kPage - size);
  }
  throw CompelError(fmt::format("infect pid {}: no free range of {} bytes in its address space", pid, size), ENOMEM);
}

void Parasite::map_into_victim(const ParasiteBlob& blob, const InfectOptions& options) {
  const pid_t pid = process_.pid();
  ParasiteLayout& l = layout_;
  l.blob_size = round_up(blob.size, kPage);
  l.args_offset = l.blob_size;
  l.undo_offset = l.args_offset + round_up(sizeof(flk_parasite_args), 64);
  l.payload_offset = round_up(l.undo_offset + kUndoCodeSize, kPage);
  l.stack_offset = l.payload_offset + round_up(options.payload_size, kPage);
  l.stack_top_offset = l.stack_offset + round_up(options.stack_size, kPage);
  l.guard_offset = l.stack_top_offset;
  l.guard_size = round_up(options.guard_size, kPage);
  l.total = l.guard_offset + l.guard_size;

  RemoteSession& rs = *session_;
  RemoteAddr want = options.address;
  if (want.is_null() && !options.end_address.is_null()) {
    if (!options.end_address.is_aligned(kPage) || options.end_address.as_int() < l.total)
      throw CompelError(fmt::format("infect pid {}: end address {} is not a usable page boundary", pid,
                                    options.end_address), EINVAL);
    want = options.end_address - l.total;
  }
  const ReturnGadgets& g = rs.gadgets();
  if (!g.can_chain())
    throw CompelError(fmt::format("infect pid {}: no `pop %rdi/%rsi/%rax; ret` next to its `syscall; ret`, so a "
                                  "killed injector could leave the parasite mapping behind: refusing",
                                  pid), ENOEXEC);
  want = free_address(want, l.total);
  // A private scratch mapping at the final address carries the memfd's name, then
  // the shared memfd mapping replaces it in place. Made together with its removal:
  // should the injector die, the syscall's `ret` goes on to munmap(want) and the
  // return frame. `want` is free and every thread is stopped, so the mmap succeeds.
  const std::vector<uint64_t> unmap_it = {g.pop_rdi.as_int(), want.as_int(), g.pop_rsi.as_int(), l.total,
                                          g.pop_rax.as_int(), SYS_munmap, g.syscall_ret.as_int()};
  long mapped = rs.syscall_then(unmap_it, SYS_mmap, want, l.total, PROT_READ | PROT_WRITE | PROT_EXEC,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (mapped < 0 && mapped > -4096) {
    rs.set_return_step(RemoteAddr());  // nothing was mapped: the continuation must not run
    throw_errno(fmt::format("remote mmap of {} bytes at {} in pid {}", l.total, want, pid), static_cast<int>(-mapped));
  }
  const RemoteAddr scratch(static_cast<uint64_t>(mapped));
  if (scratch != want)
    throw CompelError(fmt::format("remote mmap in pid {}: asked for {}, got {}", pid, want, scratch), EIO);
  l.base = scratch;
  mapped_in_victim_ = true;
  // From here on, a thread left without its injector runs the undo code in this
  // page before its rt_sigreturn: it closes the memfd's fd and unmaps the page.
  auto undo = undo_code(-1, l.base, l.total, rs.gadgets().syscall_ret);
  rs.set_return_step(l.undo() + kUndoEntryOffset, l.undo(), undo.data(), undo.size());
  static const char kName[] = "flakelab-parasite";
  write_remote(pid, l.base, kName, sizeof(kName), "memfd name");
  write_remote(pid, l.undo() + kUndoFdOffset, &kUndoFdFromResult, sizeof(kUndoFdFromResult), "undo code's fd");
  long vfd = rs.syscall_checked("memfd_create", SYS_memfd_create, scratch, MFD_CLOEXEC);
  const int32_t vfd32 = static_cast<int32_t>(vfd);
  write_remote(pid, l.undo() + kUndoFdOffset, &vfd32, sizeof(vfd32), "undo code's fd");
  auto close_vfd = [&] { rs.syscall(SYS_close, vfd); };
  try {
    rs.syscall_checked("ftruncate of the parasite memfd", SYS_ftruncate, vfd, l.total);
    std::string path = fmt::format("/proc/{}/fd/{}", pid, vfd);
    memfd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!memfd_) throw_errno("open " + path);
    // The same undo code in the memfd, where the mapping below puts it in place.
    undo = undo_code(vfd32, l.base, l.total, rs.gadgets().syscall_ret);
    if (::pwrite(memfd_.get(), undo.data(), undo.size(), static_cast<off_t>(l.undo_offset)) !=
        static_cast<ssize_t>(undo.size()))
      throw_errno("pwrite of the undo code into " + path);
    const RemoteAddr base(static_cast<uint64_t>(rs.syscall_checked(
        "mmap of the parasite memfd", SYS_mmap, scratch, l.total, PROT_READ | PROT_WRITE | PROT_EXEC,
        MAP_SHARED | MAP_FIXED, vfd, 0)));
    if (base != l.base)
      throw CompelError(fmt::format("remote mmap MAP_FIXED in pid {} moved to {}", pid, base), EIO);
  } catch (...) {
    close_vfd();
    throw;
  }
  close_vfd();
  const int32_t no_fd = -1;
  write_remote(pid, l.undo() + kUndoFdOffset, &no_fd, sizeof(no_fd), "undo code's fd");
  // The thread stays on its return chain (no settle) until the parasite starts.

  void* local = ::mmap(nullptr, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_.get(), 0);
  if (local == MAP_FAILED) throw_errno(fmt::format("mmap of the parasite memfd ({} bytes) in the injector", l.total));
  local_ = Mapping(local, l.total);
  std::memcpy(local_.data(), blob.data, blob.size);
  std::memset(local_.data() + l.guard_offset, kGuardPattern, l.guard_size);
}

void Parasite::start_daemon(const InfectOptions& options) {
  static std::atomic<uint64_t> counter{0};
  listener_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener_) throw_errno("socket(AF_UNIX, SOCK_SEQPACKET) for the parasite");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // A random part drawn once per process: std::random_device probes the CPU
  // (CPUID) each time it is made.
  static const uint64_t salt = std::random_device{}();
  std::string name = fmt::format("flakelab-compel-{}-{}-{}-{:x}", getpid(), process_.pid(), counter++, salt);
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // abstract: leading NUL
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0)
    throw_errno("bind @" + name);
  if (::listen(listener_.get(), 1) != 0) throw_errno("listen @" + name);

  flk_parasite_args& a = args();
  std::memset(&a, 0, sizeof(a));
  a.magic = FLK_PARASITE_MAGIC;
  a.abi_version = FLK_PARASITE_ABI_VERSION;
  a.sock_fd = -1;
  a.addr_len = addr_len;
  std::memcpy(a.addr, &addr, addr_len);
  a.return_frame = session_->return_frame().as_int();
  a.syscall_ret = session_->gadgets().syscall_ret.as_int();
  a.self_base = layout_.base.as_int();
  a.self_size = layout_.total;
  a.payload_offset = layout_.payload_offset;
  a.payload_size = layout_.stack_offset - layout_.payload_offset;
  a.status = FLK_STATUS_STARTING;

  session_->run_free(layout_.base, layout_.stack_top(), layout_.args());
  started_ = true;

  pollfd pfd{listener_.get(), POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  for (;;) {
    int r = ::poll(&pfd, 1, 20);
    if (r > 0) break;
    if (r < 0 && errno != EINTR) throw_errno("poll on the parasite listener");
    if (args().status >= FLK_STATUS_TRIMMED)
      throw CompelError(fmt::format("infect pid {}: parasite failed to start: {}", process_.pid(),
                                    describe_parasite_failure()), EIO);
    if (std::chrono::steady_clock::now() > deadline)
      throw CompelError(fmt::format("infect pid {}: parasite did not connect back within {} ms ({})",
                                    process_.pid(), options.connect_timeout_ms, describe_parasite_failure()),
                        ETIMEDOUT);
  }
  ctl_.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!ctl_) throw_errno("accept on the parasite listener");
  listener_.reset();
}

std::string Parasite::describe_parasite_failure() const {
  if (!local_) return "no parasite mapping";
  const flk_parasite_args& a = args();
  std::string log(a.log, std::min<size_t>(a.log_len, FLK_LOG_SIZE));
  std::string text = fmt::format("parasite status {}", a.status);
  if (a.last_err) text += ", " + errno_text(-a.last_err);
  if (!log.empty()) text += ", parasite log: " + log;
  return text;
}

std::string Parasite::parasite_log() const {
  if (!local_) return {};
  const flk_parasite_args& a = args();
  return std::string(a.log, std::min<size_t>(a.log_len, FLK_LOG_SIZE));
}

int Parasite::parasite_status() const { return local_ ? args().status : -1; }

std::optional<size_t> Parasite::guard_zone_damage() const {
  if (!local_) return std::nullopt;
  const uint8_t* g = local_.data() + layout_.guard_offset;
  for (size_t i = 0; i < layout_.guard_size; ++i)
    if (g[i] != kGuardPattern) return i;
  return std::nullopt;
}

void Parasite::send_msg(const flk_ctl_msg& msg) {
  ssize_t n = ::send(ctl_.get(), &msg, sizeof(msg), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(sizeof(msg)))
    throw_errno(fmt::format("send {} to the parasite in pid {} ({})", command_name(msg.cmd), process_.pid(),
                            describe_parasite_failure()));
}

flk_ctl_msg Parasite::recv_msg(std::vector<base::UniqueFd>* fds) {
  pollfd pfd{ctl_.get(), POLLIN, 0};
  int r;
  do {
    r = ::poll(&pfd, 1, kReplyTimeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r == 0)
    throw CompelError(fmt::format("parasite in pid {} did not answer within {} ms ({})", process_.pid(),
                                  kReplyTimeoutMs, describe_parasite_failure()), ETIMEDOUT);
  flk_ctl_msg msg{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * FLK_MAX_FDS_PER_MSG)];
  base::ReceiveHeader header(&msg, sizeof(msg), control, sizeof(control));
  const msghdr& mh = header.header();
  ssize_t n;
  do {
    n = ::recvmsg(ctl_.get(), header.get(), MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno(fmt::format("recvmsg from the parasite in pid {}", process_.pid()));
  base::ReceivedRights rights = base::take_rights(mh);
  if (rights.control_truncated)
    throw CompelError(fmt::format("recvmsg from the parasite in pid {}: more than {} fds in one message", process_.pid(),
                                  FLK_MAX_FDS_PER_MSG), EPROTO);
  if (fds) std::move(rights.fds.begin(), rights.fds.end(), std::back_inserter(*fds));
  if (n != static_cast<ssize_t>(sizeof(msg)) || (mh.msg_flags & MSG_TRUNC))
    throw CompelError(fmt::format("Trimmed message received ({}/{}) from the parasite in pid {} ({})", sizeof(msg),
                                  (mh.msg_flags & MSG_TRUNC) ? sizeof(msg) + 1 : static_cast<size_t>(n),
                                  process_.pid(), describe_parasite_failure()), EPROTO);
  return msg;
}

flk_ctl_msg Parasite::call(uint32_t cmd, uint32_t arg) {
  if (!infected_) throw CompelError(fmt::format("parasite command {}: pid {} is not infected", command_name(cmd), process_.pid()), EINVAL);
  send_msg({cmd, FLK_REQUEST, 0, arg});
  flk_ctl_msg reply = recv_msg(nullptr);
  if (reply.cmd != cmd || reply.ack != FLK_REPLY)
    throw CompelError(fmt::format("parasite in pid {}: expected reply to {} got cmd {} ack {}", process_.pid(),
                                  command_name(cmd), reply.cmd, reply.ack), EPROTO);
  if (reply.err < 0)
    throw CompelError(fmt::format("parasite command {} in pid {}: {}", command_name(cmd), process_.pid(),
                                  errno_text(-reply.err)), -reply.err);
  return reply;
}

std::vector<Sigaction> Parasite::get_sigactions() {
  call(FLK_CMD_GET_SIGACTIONS, 0);
  std::vector<Sigaction> out;
  const auto* acts = reinterpret_cast<const flk_sigaction*>(payload().data());
  for (int sig = 1; sig <= FLK_NSIG; ++sig) {
    const flk_sigaction& k = acts[sig - 1];
    out.push_back({sig, k.handler, k.flags, k.restorer, k.mask});
  }
  return out;
}

flk_stack Parasite::get_sigaltstack() {
  call(FLK_CMD_GET_SIGALTSTACK, 0);
  flk_stack st;
  std::memcpy(&st, payload().data(), sizeof(st));
  return st;
}

std::vector<flk_itimerval> Parasite::get_itimers() {
  call(FLK_CMD_GET_ITIMERS, 0);
  std::vector<flk_itimerval> t(3);
  std::memcpy(t.data(), payload().data(), sizeof(flk_itimerval) * 3);
  return t;
}

std::vector<ReceivedFd> Parasite::receive_fds() {
  if (!infected_) throw CompelError(fmt::format("receive fds: pid {} is not infected", process_.pid()), EINVAL);
  std::vector<int> victim_fds = base::procfs::list_fds(process_.pid());
  std::erase(victim_fds, args().sock_fd);
  auto* list = reinterpret_cast<flk_fd_list*>(payload().data());
  size_t capacity = (payload().size() - sizeof(flk_fd_list)) / sizeof(int32_t);
  if (victim_fds.size() > capacity)
    throw CompelError(fmt::format("receive fds: pid {} has {} fds, payload holds {}", process_.pid(),
                                  victim_fds.size(), capacity), E2BIG);
  list->count = static_cast<uint32_t>(victim_fds.size());
  std::copy(victim_fds.begin(), victim_fds.end(), list->fds);
  send_msg({FLK_CMD_SEND_FDS, FLK_REQUEST, 0, 0});
  std::vector<base::UniqueFd> got;
  for (;;) {
    flk_ctl_msg m = recv_msg(&got);
    if (m.ack == FLK_DATA) continue;
    if (m.cmd != FLK_CMD_SEND_FDS || m.ack != FLK_REPLY)
      throw CompelError(fmt::format("receive fds from pid {}: unexpected message cmd {} ack {}", process_.pid(), m.cmd, m.ack), EPROTO);
    if (m.err < 0)
      throw CompelError(fmt::format("parasite SEND_FDS in pid {}: {}", process_.pid(), errno_text(-m.err)), -m.err);
    break;
  }
  if (got.size() != victim_fds.size())
    throw CompelError(fmt::format("receive fds from pid {}: asked for {}, received {}", process_.pid(),
                                  victim_fds.size(), got.size()), EPROTO);
  std::vector<ReceivedFd> out;
  for (size_t i = 0; i < got.size(); ++i) out.push_back({victim_fds[i], std::move(got[i])});
  return out;
}

uint32_t Parasite::user_command(uint32_t cmd, uint32_t arg) {
  if (cmd < FLK_CMD_USER) throw CompelError(fmt::format("user command {} is below FLK_CMD_USER", cmd), EINVAL);
  return call(cmd, arg).arg;
}

void Parasite::send_raw_for_testing(const void* data, size_t size) {
  if (::send(ctl_.get(), data, size, MSG_NOSIGNAL) < 0) throw_errno("send (raw) to the parasite");
}

void Parasite::take_back_thread() {
  user_regs_struct regs = session_->interrupt_running();
  // The parasite leaves once its socket closes: it unmaps itself and returns
  // through the frame; follow it until its rt_sigreturn is done.
  ctl_.reset();
  if (layout_.contains(RemoteAddr(regs.rip)) || session_->in_return_chain(regs))
    session_->finish_return_chain();
  else
    session_->rebase();  // it got back by itself and ran its own code since
  mapped_in_victim_ = still_mapped();
}

bool Parasite::still_mapped() const {
  uint8_t byte;
  try {
    read_remote(process_.pid(), layout_.base, &byte, 1, "parasite mapping");
  } catch (const CompelError&) {
    return false;
  }
  return true;
}

void Parasite::remove_from_victim() {
  if (!mapped_in_victim_) return;
  if (!still_mapped()) {
    mapped_in_victim_ = false;
    return;
  }
  // The undo code does it: closes the parasite's socket if still open, unmaps the
  // page, returns through the frame (safe should the injector die half-way).
  const int32_t fd = local_ ? args().sock_fd : -1;
  write_remote(process_.pid(), layout_.undo() + kUndoFdOffset, &fd, sizeof(fd), "undo code's fd");
  session_->set_return_step(layout_.undo() + kUndoEntryOffset);
  session_->return_through_frame();
  if (local_) args().sock_fd = -1;
  mapped_in_victim_ = false;
}

void Parasite::cure() { finish(true); }

std::string Parasite::abandon() noexcept {
  if (!infected_) return {};
  infected_ = false;
  ctl_.reset();
  // Give the parasite a moment to notice and return to the victim by itself; if it
  // does not, finish() takes the thread back the hard way.
  for (int i = 0; i < 2000 && local_ && args().status < FLK_STATUS_TRIMMED; ++i) usleep(100);
  std::string log;
  try {
    log = parasite_log();
  } catch (const std::bad_alloc&) {
  }
  finish(false);
  return log;
}

void Parasite::finish(bool throw_errors) {
  if (!session_) return;
  std::string first_error;
  auto attempt = [&](const char* step, auto&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
      spdlog::debug("compel: cure pid {}: {} failed: {}", process_.pid(), step, e.what());
    }
  };
  if (infected_) {
    infected_ = false;
    attempt("FINI", [&] {
      send_msg({FLK_CMD_FINI, FLK_REQUEST, 0, 0});
      flk_ctl_msg reply = recv_msg(nullptr);
      if (reply.cmd != FLK_CMD_FINI || reply.ack != FLK_REPLY)
        throw CompelError(fmt::format("parasite in pid {}: bad FINI reply", process_.pid()), EPROTO);
      step("fini-acked");
    });
  }
  if (session_->thread().attached()) {
    if (started_) {
      attempt("taking the thread back", [&] {
        take_back_thread();
        step("taken-back");
      });
      started_ = false;
    }
    ctl_.reset();
    listener_.reset();
    attempt("removing the parasite", [&] {
      remove_from_victim();
      step("unmapped");
    });
    attempt("restoring the thread", [&] { session_->settle(); });
  }
  ctl_.reset();
  listener_.reset();
  local_.reset();
  memfd_.reset();
  session_.reset();
  if (throw_errors && !first_error.empty()) throw CompelError("cure of pid " + std::to_string(process_.pid()) + ": " + first_error, EIO);
}

}  // namespace flakelab::compel
