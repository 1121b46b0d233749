#include "flakelab/victims/registers.h"

namespace flakelab::victims {

long syscall_keeping_registers(long nr, long a1, long a2, long a3, long a4, const RegSnapshot* in,
                               RegSnapshot* out) {
  long ret;
  register long r10 __asm__("r10") = a4;
  __asm__ volatile(
      "mov 0(%[in]), %%rbx\n\t"
      "mov 8(%[in]), %%r12\n\t"
      "mov 16(%[in]), %%r13\n\t"
      "mov 24(%[in]), %%r14\n\t"
      "mov 32(%[in]), %%r15\n\t"
      "vmovdqu 40(%[in]), %%ymm8\n\t"
      "vmovdqu 72(%[in]), %%ymm9\n\t"
      "vmovdqu 104(%[in]), %%ymm10\n\t"
      "vmovdqu 136(%[in]), %%ymm11\n\t"
      "syscall\n\t"
      "mov %%rbx, 0(%[out])\n\t"
      "mov %%r12, 8(%[out])\n\t"
      "mov %%r13, 16(%[out])\n\t"
      "mov %%r14, 24(%[out])\n\t"
      "mov %%r15, 32(%[out])\n\t"
      "vmovdqu %%ymm8, 40(%[out])\n\t"
      "vmovdqu %%ymm9, 72(%[out])\n\t"
      "vmovdqu %%ymm10, 104(%[out])\n\t"
      "vmovdqu %%ymm11, 136(%[out])\n\t"
      "vzeroupper\n\t"
      : "=a"(ret)
      : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), [in] "r"(in), [out] "r"(out)
      : "rcx", "r11", "rbx", "r12", "r13", "r14", "r15", "xmm8", "xmm9", "xmm10", "xmm11", "memory");
  return ret;
}

}  // namespace flakelab::victims
