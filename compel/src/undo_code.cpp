#include "undo_code.h"

#include <cstring>

namespace flakelab::compel {
static_assert(kUndoFdFromResult == -2, "encoded as the imm8 0xfe below");
namespace {

void put(uint8_t* p, const void* v, size_t n) { std::memcpy(p, v, n); }

}  // namespace

std::array<uint8_t, kUndoCodeSize> undo_code(int fd, RemoteAddr base, size_t size,
                                             RemoteAddr syscall_ret) {
  std::array<uint8_t, kUndoCodeSize> out{};
  out.fill(0xcc);
  int32_t fd32 = fd;
  put(out.data() + kUndoFdOffset, &fd32, sizeof(fd32));
  uint8_t* c = out.data() + kUndoEntryOffset;
  size_t i = 0;
  auto emit = [&](std::initializer_list<uint8_t> bytes) {
    for (uint8_t b : bytes) c[i++] = b;
  };
  auto emit64 = [&](uint64_t v) {
    put(c + i, &v, sizeof(v));
    i += sizeof(v);
  };
  // mov fd(%rip), %edi   (rip-relative: the fd word sits 16 + 6 bytes back)
  const int32_t rel = static_cast<int32_t>(kUndoFdOffset) - static_cast<int32_t>(kUndoEntryOffset + 6);
  emit({0x8b, 0x3d});
  put(c + i, &rel, sizeof(rel));
  i += sizeof(rel);
  emit({0x83, 0xff, 0xfe});                    // cmp $kUndoFdFromResult, %edi
  emit({0x75, 0x02});                          // jne over the next
  emit({0x89, 0xc7});                          // mov %eax, %edi: the syscall's result
  emit({0x85, 0xff});                          // test %edi, %edi
  emit({0x78, 0x07});                          // js over the close
  emit({0xb8, 0x03, 0x00, 0x00, 0x00});        // mov $SYS_close, %eax
  emit({0x0f, 0x05});                          // syscall
  emit({0x48, 0xbf});                          // movabs $base, %rdi
  emit64(base.as_int());
  emit({0x48, 0xbe});                          // movabs $size, %rsi
  emit64(size);
  emit({0x49, 0xbb});                          // movabs $syscall_ret, %r11
  emit64(syscall_ret.as_int());
  emit({0xb8, 0x0b, 0x00, 0x00, 0x00});        // mov $SYS_munmap, %eax
  emit({0x41, 0xff, 0xe3});                    // jmp *%r11: munmap, then `ret` to the sigreturn
  return out;
}

}  // namespace flakelab::compel
