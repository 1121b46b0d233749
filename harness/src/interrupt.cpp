#include "flakelab/harness/interrupt.h"

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

volatile sig_atomic_t g_signal = 0;
bool g_installed = false;
sigset_t g_wait_mask;

void on_signal(int sig) { g_signal = sig; }

}  // namespace

void install_interrupt_handlers() {
  if (g_installed) return;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART
  sigset_t block;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM}) {
    if (::sigaction(sig, &action, nullptr) != 0) throw os_error("sigaction(SIGINT/SIGTERM)");
    sigaddset(&block, sig);
  }
  if (::sigprocmask(SIG_BLOCK, &block, &g_wait_mask) != 0) throw os_error("sigprocmask");
  sigdelset(&g_wait_mask, SIGINT);
  sigdelset(&g_wait_mask, SIGTERM);
  g_installed = true;
}

int interrupt_signal() { return g_signal; }

const sigset_t* interrupt_wait_mask() { return g_installed ? &g_wait_mask : nullptr; }

void reset_signal_dispositions() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE}) {
    ::sigaction(sig, &action, nullptr);
    sigaddset(&unblock, sig);
  }
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
}

}  // namespace flakelab::harness
