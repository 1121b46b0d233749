// Speed of the injection primitives against a live victim blocked in read().
// Injector and victim share CPU 0 (the same-pu placement): on this VM a wakeup on
// another CPU costs tens of microseconds and every ptrace stop is one, which would
// measure the hypervisor rather than compel (scenarios_bench reports both).
#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/syscall.h>

#include "flakelab/compel/parasite.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"
#include "floors.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {
struct PinToCpu0 {
  PinToCpu0() {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
} pin_before_any_victim_starts;
}  // namespace

static void BM_RemoteSyscallRoundTrip(benchmark::State& state) {
  EchoVictim v = EchoVictim::start();
  v.echo(1);
  wait_until_sleeping(v.child.pid());
  SeizedProcess p(v.child.pid());
  RemoteSession rs(p.leader());
  for (auto _ : state) benchmark::DoNotOptimize(rs.syscall(SYS_getpid));
}
BENCHMARK(BM_RemoteSyscallRoundTrip)->Unit(benchmark::kMicrosecond);

static void BM_SeizeRelease(benchmark::State& state) {
  EchoVictim v = EchoVictim::start();
  v.echo(1);
  wait_until_sleeping(v.child.pid());
  for (auto _ : state) {
    SeizedProcess p(v.child.pid());
    benchmark::DoNotOptimize(p.threads().size());
  }
}
BENCHMARK(BM_SeizeRelease)->Unit(benchmark::kMicrosecond);

static void BM_InfectCure(benchmark::State& state) {
  EchoVictim v = EchoVictim::start();
  v.echo(1);
  wait_until_sleeping(v.child.pid());
  for (auto _ : state) {
    SeizedProcess p(v.child.pid());
    Parasite parasite(p, default_parasite_blob());
    parasite.cure();
  }
}
BENCHMARK(BM_InfectCure)->Unit(benchmark::kMicrosecond);

// The floors beside them: fork + exit + wait, fork + exec (no sizes: nothing is copied).
int main(int argc, char** argv) { return flakelab::bench::run_with_floors(argc, argv, {}); }
