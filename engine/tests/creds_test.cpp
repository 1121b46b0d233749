// Credentials and seccomp state across dump and restore (creds_dump.cpp,
// creds_restore.cpp), with the victims of creds_victims.h.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "creds_dump.h"
#include "creds_image.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/seized_thread.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/victims/creds_victims.h"
#include "test_support.h"

using namespace flakelab;
using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

const char* const kCredFields[] = {"Uid",    "Gid",    "Groups", "CapInh",     "CapPrm",  "CapEff",
                                   "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"};

// tid -> "Uid: ...; Gid: ...; ..." from /proc/PID/task/TID/status.
std::map<pid_t, std::string> cred_fields(pid_t pid) {
  std::map<pid_t, std::string> out;
  for (pid_t tid : compel::proc::list_threads(pid)) {
    std::string line;
    for (const char* key : kCredFields) line += std::string(key) + ": " + proc_status_field(tid, key) + "; ";
    std::ifstream loginuid("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/loginuid");
    line += "loginuid: " + std::string(std::istreambuf_iterator<char>(loginuid), {});
    out[tid] = line;
  }
  return out;
}

// tid -> its filters, oldest first, as the kernel gives them to a tracer.
std::map<pid_t, std::vector<SeccompFilterBytes>> filters_of(pid_t pid) {
  std::map<pid_t, std::vector<SeccompFilterBytes>> out;
  for (pid_t tid : compel::proc::list_threads(pid)) {
    compel::SeizedThread th(pid, tid);
    EXPECT_TRUE(th.wait_initial_stop());
    out[tid] = read_seccomp_filters(tid);
  }
  return out;
}

bool caps_within_ours(uint64_t caps) {
  return (caps & ~read_credentials(getpid(), static_cast<pid_t>(gettid())).cap_permitted()) == 0;
}

}  // namespace

TEST(Credentials, IdsCapsSecurebitsAndFiltersOfEveryThreadComeBack) {
  ChildPid v{start_creds_victim()};
  const auto fields = cred_fields(v.pid);
  const auto filters = filters_of(v.pid);
  ASSERT_EQ(fields.size(), 3u);
  ASSERT_EQ(filters.at(v.pid).size(), 1u);  // the shared one

  Image image = dump_process(v.pid);
  ASSERT_FALSE(alive(v.pid));
  const pb::Process& p = image.root().process;
  // The TSYNC'd filter is recorded once, thread 1's on top of it.
  ASSERT_EQ(p.seccomp_filters_size(), 2);
  EXPECT_EQ(p.seccomp_filters(1).parent(), p.seccomp_filters(0).id());
  EXPECT_EQ(p.threads(0).creds().euid(), victims::kCredsUid);
  EXPECT_EQ(p.threads(0).creds().securebits(), victims::kCredsSecurebits);
  EXPECT_EQ(p.threads(1).creds().cap_permitted(), 0u);
  // Where the kernel let the victim set its loginuid, restore must write it back.
  if (fields.at(v.pid).find("loginuid: 4715") != std::string::npos)
    EXPECT_EQ(p.threads(2).creds().loginuid(), 4715u);
  else
    std::fprintf(stderr, "this kernel did not let the victim set its loginuid: not tested\n");
  auto plan = seccomp_plan(p);
  EXPECT_EQ(plan.shared.size(), 1u);

  ASSERT_EQ(restore_process(image), v.pid);
  EXPECT_EQ(cred_fields(v.pid), fields);
  EXPECT_EQ(filters_of(v.pid), filters);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), victims::kVictimOk);
}

TEST(Credentials, StrictModeIsDumpedWithoutKillingTheVictimAndComesBack) {
  ChildPid v{start_strict_victim()};
  ASSERT_EQ(proc_status_field(v.pid, "Seccomp"), "1");
  // --leave-running first: the dump must neither kill nor disturb it.
  Image kept = dump_process(v.pid, DumpOptions{.leave_running = true});
  ASSERT_TRUE(alive(v.pid));
  EXPECT_TRUE(wait_sleeping(v.pid)) << "not back in its read()";
  Image image = dump_process(v.pid);
  ASSERT_FALSE(alive(v.pid));
  EXPECT_EQ(image.root().process.threads(0).creds().seccomp_mode(), uint32_t{SECCOMP_MODE_STRICT});
  ASSERT_EQ(restore_process(image), v.pid);
  EXPECT_EQ(proc_status_field(v.pid, "Seccomp"), "1");
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  // Its pipe works (else exit 1), then getppid() is refused by strict mode: SIGKILL.
  int status = wait_exit(v.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

TEST(Credentials, ImageWithCapabilitiesTheRestorerLacksIsRefusedBeforeAnythingIsMade) {
  if (caps_within_ours(uint64_t{1} << 24)) GTEST_SKIP() << "cap_sys_resource is in our permitted set here";
  ChildPid v{start_creds_victim()};
  Image image = dump_process(v.pid);
  ASSERT_FALSE(alive(v.pid));
  Image wanting = image;
  auto* creds = wanting.processes[0].process.mutable_threads(0)->mutable_creds();
  creds->set_cap_permitted(creds->cap_permitted() | uint64_t{1} << 24);
  creds->set_cap_bounding(creds->cap_bounding() | uint64_t{1} << 24);
  try {
    restore_process(wanting);
    ADD_FAILURE() << "restored an image asking for cap_sys_resource";
  } catch (const EngineError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cap_sys_resource"), std::string::npos) << what;
    EXPECT_NE(what.find("tid " + std::to_string(v.pid)), std::string::npos) << what;
  }
  EXPECT_FALSE(alive(v.pid)) << "the refused restore made a process";
  // A restorer that cannot change uids is refused the genuine image too.
  pid_t restorer = fork();
  ASSERT_GE(restorer, 0);
  if (restorer == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0) _exit(3);
    data[0].effective &= ~(1u << CAP_SETUID);
    if (syscall(SYS_capset, &header, data) != 0) _exit(4);
    try {
      restore_process(image);
    } catch (const EngineError& e) {
      std::string what = e.what();
      bool named = what.find("cap_setuid (to become uid 4711/4711/4711)") != std::string::npos;
      if (!named) std::fprintf(stderr, "unexpected refusal: %s\n", what.c_str());
      _exit(named ? 0 : 1);
    }
    _exit(2);
  }
  EXPECT_EQ(exit_code(restorer), 0);
  EXPECT_FALSE(alive(v.pid)) << "the refused restore made a process";
  // Nothing was left behind: the genuine image restores at once.
  ASSERT_EQ(restore_process(image), v.pid);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), victims::kVictimOk);
}

// Without CAP_SYS_ADMIN ptrace cannot suspend seccomp, and a remote syscall would
// kill a strict-mode victim: the dump refuses before touching it (zdtm's seccomp_strict).
TEST(Credentials, DumpWithoutCapSysAdminRefusesASeccompVictimUntouched) {
  ChildPid v{start_strict_victim()};
  pid_t dumper = fork();
  ASSERT_GE(dumper, 0);
  if (dumper == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0) _exit(3);
    data[0].effective &= ~(1u << CAP_SYS_ADMIN);
    if (syscall(SYS_capset, &header, data) != 0) _exit(4);
    try {
      dump_process(v.pid);
    } catch (const EngineError& e) {
      std::string what = e.what();
      bool named = what.find("runs under seccomp (mode 1)") != std::string::npos &&
                   what.find("CAP_SYS_ADMIN") != std::string::npos;
      if (!named) std::fprintf(stderr, "unexpected refusal: %s\n", what.c_str());
      _exit(named ? 0 : 1);
    }
    _exit(2);
  }
  EXPECT_EQ(exit_code(dumper), 0);
  ASSERT_TRUE(alive(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
  EXPECT_TRUE(wait_sleeping(v.pid));
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  int status = wait_exit(v.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}
