#include "return_frame.h"

#include <cpuid.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "flakelab/base/syscall_restart.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite_abi.h"

namespace flakelab::compel {
namespace {

constexpr uint64_t kRedZone = 128;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr uint32_t kFpXstateMagic2 = 0x46505845;
constexpr size_t kSwBytesOffset = 464;  // fx_sw_reserved in the legacy FXSAVE area
constexpr uint64_t kUcFpXstate = 1, kUcSigcontextSs = 2, kUcStrictRestoreSs = 4;
// Not a valid ss_flags mode: rt_sigreturn's restore_altstack() then fails with
// EINVAL, which it ignores, and the thread keeps its alternate stack as it is.
constexpr int32_t kKeepAltstack = 3;

// What a signal frame of a task may carry: the XCR0 features minus the dynamic ones
// (AMX tile data is only there for tasks that asked for it), and the size of the
// standard XSAVE layout up to the last of them. The kernel refuses a frame larger
// than the task's own XSAVE size and would then restore only the legacy FP/SSE part.
struct SigframeXstate {
  uint64_t features = 0;
  uint32_t size = 0;
};

SigframeXstate read_sigframe_xstate() {
  constexpr uint64_t kDynamicFeatures = 1ULL << 18;  // XTILEDATA
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  SigframeXstate out;
  out.features = ((static_cast<uint64_t>(hi) << 32) | lo) & ~kDynamicFeatures;
  out.size = 576;  // legacy area + XSAVE header
  for (unsigned bit = 2; bit < 63; ++bit) {
    if (!(out.features & (1ULL << bit))) continue;
    unsigned eax, ebx, ecx, edx;
    __cpuid_count(0xd, bit, eax, ebx, ecx, edx);
    if (ecx & 1) continue;  // supervisor state, never in user frames
    out.size = std::max(out.size, ebx + eax);
  }
  return out;
}

// Once per process: XCR0 and the CPUID layout do not change, and in a VM each
// CPUID traps to the hypervisor (~6 us here; 7 of them on a CPU with AVX-512 and AMX).
const SigframeXstate& sigframe_xstate() {
  static const SigframeXstate cached = read_sigframe_xstate();
  return cached;
}

struct FxSwBytes {
  uint32_t magic1;
  uint32_t extended_size;
  uint64_t xfeatures;
  uint32_t xstate_size;
  uint32_t padding[7];
};
static_assert(sizeof(FxSwBytes) == 48);
static_assert(sizeof(flk_sigcontext) == 256, "kernel sigcontext layout");
static_assert(sizeof(flk_ucontext) == 304, "kernel ucontext layout");

uint64_t round_down(uint64_t v, uint64_t a) { return v / a * a; }

}  // namespace

ReturnFrame build_return_frame(const user_regs_struct& r, const std::vector<uint8_t>& xs, uint64_t sigmask,
                               const ReturnGadgets& gadgets, pid_t pid) {
  const SigframeXstate& fx = sigframe_xstate();
  if (fx.size > xs.size())
    throw CompelError(fmt::format("pid {}: XSAVE area from ptrace ({} bytes) smaller than a signal frame's ({})", pid,
                                  xs.size(), fx.size), EIO);
  const uint64_t fp_size = std::max<uint64_t>(xs.size(), fx.size + sizeof(uint32_t));
  const uint64_t fpstate = round_down(r.rsp - kRedZone - fp_size, FLK_REG_ALIGN);
  // As the kernel places a frame: pretcode where a call would have left it.
  const uint64_t frame = round_down(fpstate - sizeof(flk_rt_sigframe), 16) - 8;
  ReturnFrame out;
  out.slot = RemoteAddr(frame - 8);
  out.bytes.assign(fpstate + fp_size - out.slot.as_int(), 0);
  uint8_t* base = out.bytes.data();

  const uint64_t next = gadgets.ret().as_int();
  std::memcpy(base, &next, sizeof(next));
  auto* f = reinterpret_cast<flk_rt_sigframe*>(base + 8);
  f->pretcode = gadgets.sigreturn.as_int();
  flk_sigcontext& sc = f->uc.uc_mcontext;
  // rt_sigreturn disables syscall restart, so the kernel's restart fixup is ours to do.
  const user_regs_struct resumed = base::registers_to_resume(r, base::ResumeContext::kCured);
  sc.r8 = r.r8; sc.r9 = r.r9; sc.r10 = r.r10; sc.r11 = r.r11;
  sc.r12 = r.r12; sc.r13 = r.r13; sc.r14 = r.r14; sc.r15 = r.r15;
  sc.rdi = r.rdi; sc.rsi = r.rsi; sc.rbp = r.rbp; sc.rbx = r.rbx;
  sc.rdx = r.rdx; sc.rcx = r.rcx; sc.rsp = r.rsp;
  sc.rax = resumed.rax;
  sc.rip = resumed.rip;
  sc.eflags = r.eflags;
  sc.cs = static_cast<uint16_t>(r.cs);
  sc.ss = static_cast<uint16_t>(r.ss);
  sc.fpstate = fpstate;
  f->uc.uc_flags = kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs;
  f->uc.uc_sigmask = sigmask;
  f->uc.uc_stack.ss_flags = kKeepAltstack;

  uint8_t* xdst = base + (fpstate - out.slot.as_int());
  std::memcpy(xdst, xs.data(), xs.size());
  FxSwBytes sw{};
  sw.magic1 = kFpXstateMagic1;
  sw.xstate_size = fx.size;
  sw.extended_size = fx.size + sizeof(uint32_t);
  sw.xfeatures = fx.features;
  uint64_t xstate_bv;  // header: only features the frame carries
  std::memcpy(&xstate_bv, xdst + 512, sizeof(xstate_bv));
  xstate_bv &= fx.features;
  std::memcpy(xdst + 512, &xstate_bv, sizeof(xstate_bv));
  std::memcpy(xdst + kSwBytesOffset, &sw, sizeof(sw));
  std::memcpy(xdst + sw.xstate_size, &kFpXstateMagic2, sizeof(uint32_t));
  return out;
}

}  // namespace flakelab::compel
