// A small, valid, synthetic image for format tests (no process behind it).
#pragma once

#include "flakelab/engine/image.h"

namespace flakelab::engine::testing {

inline Image make_valid_image() {
  Image img;
  pb::Process& p = img.processes.emplace_back().process;  // the root, alone
  p.set_pid(4242);
  p.set_comm("victim");
  p.set_cwd("/tmp");
  p.set_umask(022);
  p.set_personality(0);
  auto* rl = p.add_rlimits();
  rl->set_resource(7);  // RLIMIT_NOFILE
  rl->set_cur(1024);
  rl->set_max(4096);
  auto* sa = p.add_sigactions();
  sa->set_signo(10);
  sa->set_handler(0x401000);
  sa->set_flags(0x04000000);
  sa->set_restorer(0x401100);
  auto* mm = p.mutable_mm();
  mm->set_start_code(0x400000);
  mm->set_end_code(0x402000);
  mm->set_start_data(0x403000);
  mm->set_end_data(0x404000);
  mm->set_start_brk(0x500000);
  mm->set_brk(0x501000);
  mm->set_start_stack(0x7ffd00010000);
  mm->set_arg_start(0x7ffd00010100);
  mm->set_arg_end(0x7ffd00010200);
  mm->set_env_start(0x7ffd00010200);
  mm->set_env_end(0x7ffd00010300);
  mm->set_auxv(std::string(32, '\0'));
  mm->set_exe_path("/usr/bin/true");
  auto* t = p.add_threads();
  t->set_tid(4242);
  auto* gp = t->mutable_gp();
  gp->set_rip(0x401234);
  gp->set_rsp(0x7ffd00008000);
  gp->set_cs(0x33);
  gp->set_ss(0x2b);
  gp->set_fs_base(0x7f0000001000);
  t->set_xstate(std::string(1024, '\0'));
  t->set_blocked(0);
  auto add_vma = [&](uint64_t start, uint64_t end, pb::VmaKind kind, uint32_t prot, const char* path = "") {
    auto* v = p.add_vmas();
    v->set_start(start);
    v->set_end(end);
    v->set_kind(kind);
    v->set_prot(prot);
    v->set_path(path);
  };
  add_vma(0x400000, 0x402000, pb::VMA_FILE_PRIVATE, 5, "/usr/bin/true");
  add_vma(0x500000, 0x504000, pb::VMA_ANON_PRIVATE, 3);
  add_vma(0x7ffd00000000, 0x7ffd00020000, pb::VMA_ANON_PRIVATE, 3);
  add_vma(0x7fff00000000, 0x7fff00002000, pb::VMA_VDSO, 5);
  auto* r = p.add_pages();
  r->set_vaddr(0x500000);
  r->set_nr_pages(2);
  r = p.add_pages();
  r->set_vaddr(0x7ffd0001f000);
  r->set_nr_pages(1);
  p.set_pages_bytes(3 * 4096);
  auto* f = p.add_files();
  f->set_kind(pb::FILE_REGULAR);
  f->set_path("/tmp/data");
  f->set_flags(02);  // O_RDWR
  f->set_pos(5);
  auto* pipe = p.add_pipes();
  pipe->set_id(777);
  pipe->set_capacity(65536);
  pipe->set_data("unread");
  for (uint32_t flags : {0u, 1u}) {  // O_RDONLY, O_WRONLY
    auto* end = p.add_files();
    end->set_kind(pb::FILE_PIPE);
    end->set_flags(flags);
    end->set_pipe_id(777);
  }
  for (uint32_t fd : {3u, 9u}) {
    auto* d = p.add_fds();
    d->set_fd(fd);
    d->set_file(0);
  }
  img.root().pages.resize(3 * 4096);
  for (size_t i = 0; i < img.root().pages.size(); ++i) img.root().pages[i] = static_cast<uint8_t>(i * 7 + 1);
  return img;
}

// The same process as a tree of one, as every dump records it (format version 3).
inline Image make_valid_tree_image() {
  Image img = make_valid_image();
  auto* r = img.tree.add_processes();
  r->set_pid(img.root().process.pid());
  r->set_ppid(100);
  r->set_pgid(100);
  r->set_sid(100);
  r->set_exit_signal(17);  // SIGCHLD
  return img;
}

}  // namespace flakelab::engine::testing
