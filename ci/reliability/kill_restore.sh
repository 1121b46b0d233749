#!/bin/bash
# SIGKILLs `flakelab restore -d` at random moments, N times (default 2000), and
# counts what each kill left behind (issue 16 point 2; target: 0 left behind and
# 0 failed later restores). The victim is `sleep`, dumped once; each round:
#   restore -d, kill -9 it after a random delay within one restore's duration,
#   then look at the victim's pid:
#     gone      - nothing was left (the restore was killed before it finished)
#     complete  - the restored process runs intact: untraced, sleeping, its own
#                 comm and signal mask (the kill came after the release)
#     left      - anything else still holding the pid after 5 s (a half-restored
#                 process, or the restorer's copy in its trampoline)
#   and a plain restore -d of the same image must then succeed.
# Runs in its own pid namespace, where this script is init and reaps orphans at
# once (the host's init may take a second, which a later restore would wait for).
#
#   ci/reliability/kill_restore.sh [N]     FLAKELAB=path/to/flakelab (default: build/)
set -u

rounds=${1:-2000}
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [N]  (N: rounds, a positive integer; got '$rounds')" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
flakelab=${FLAKELAB:-$here/../../build/harness/flakelab}
if [ ! -x "$flakelab" ]; then
  echo "$0: no flakelab binary at $flakelab (build first, or set FLAKELAB)" >&2
  exit 2
fi
flakelab=$(readlink -f "$flakelab")

if [ "$$" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "$0: needs root (ptrace, clone3 set_tid, pid namespaces)" >&2; exit 2; }
  exec unshare --fork --pid --mount-proc env FLAKELAB="$flakelab" bash "$0" "$rounds"
fi

work=$(mktemp -d /tmp/flakelab-kill-restore-XXXXXX)
trap 'rm -rf "$work"' EXIT
images=$work/images

# State of the victim's pid: gone | zombie | complete | other:<details>
pid_state() {
  local pid=$1 status
  status=$(cat "/proc/$pid/status" 2>/dev/null) || { echo gone; return; }
  local state comm tracer blocked
  state=$(awk '/^State:/ {print $2}' <<<"$status")
  comm=$(awk '/^Name:/ {print $2}' <<<"$status")
  tracer=$(awk '/^TracerPid:/ {print $2}' <<<"$status")
  blocked=$(awk '/^SigBlk:/ {print $2}' <<<"$status")
  if [ "$state" = Z ] || [ "$state" = X ]; then echo zombie; return; fi
  if [ "$comm" = sleep ] && [ "$tracer" = 0 ] && [ "$blocked" = 0000000000000000 ] && [ "$state" = S ]; then
    echo complete
    return
  fi
  echo "other: state $state comm $comm tracer $tracer blocked $blocked"
}

# Waits (up to 5 s) until the pid is free or holds the intact restored process.
settle() {
  local pid=$1 state
  for _ in $(seq 500); do
    state=$(pid_state "$pid")
    case $state in
      gone) echo gone; return ;;
      complete) echo complete; return ;;
    esac
    sleep 0.01
  done
  echo "$state"
}

kill_and_wait_gone() {
  local pid=$1
  kill -9 "$pid" 2>/dev/null
  for _ in $(seq 500); do
    [ -e "/proc/$pid" ] || return 0
    wait -n 2>/dev/null
    sleep 0.01
  done
  echo "$0: pid $pid does not go away" >&2
  return 1
}

victim=$(python3 -c '
import subprocess
p = subprocess.Popen(["sleep", "1000000"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
print(p.pid)')
if ! "$flakelab" dump -t "$victim" -D "$images"; then
  echo "$0: dump of the victim (pid $victim) failed" >&2
  exit 1
fi
kill_and_wait_gone "$victim" || exit 1

# One restore's duration bounds the random kill delay (starting the restorer and the
# sleep add a little: some kills land after it).
start=$(date +%s%N)
"$flakelab" restore -d -D "$images" || { echo "$0: the first restore failed" >&2; exit 1; }
restore_us=$((($(date +%s%N) - start) / 1000))
[ "$(pid_state "$victim")" = complete ] || { echo "$0: the restored victim is not intact" >&2; exit 1; }
kill_and_wait_gone "$victim" || exit 1
max_delay_us=$restore_us

gone=0 complete=0 left=0 later_failed=0
for ((round = 1; round <= rounds; ++round)); do
  delay_us=$(((RANDOM * 32768 + RANDOM) % max_delay_us))
  "$flakelab" restore -d -D "$images" 2>/dev/null &
  restorer=$!
  sleep "$(printf '0.%06d' "$delay_us")"
  kill -9 "$restorer" 2>/dev/null
  wait "$restorer" 2>/dev/null
  state=$(settle "$victim")
  case $state in
    gone) gone=$((gone + 1)) ;;
    complete) complete=$((complete + 1)) ;;
    *)
      left=$((left + 1))
      echo "round $round (kill after ${delay_us} us): pid $victim left behind: $state" >&2
      ;;
  esac
  kill_and_wait_gone "$victim" || exit 1
  if "$flakelab" restore -d -D "$images" 2>"$work/later.err" && [ "$(settle "$victim")" = complete ]; then
    :
  else
    later_failed=$((later_failed + 1))
    echo "round $round: the later restore failed: $(cat "$work/later.err")" >&2
  fi
  kill_and_wait_gone "$victim" || exit 1
done

echo "kill_restore: $rounds kills of 'flakelab restore -d' within 0..${max_delay_us} us (one restore: ${restore_us} us)"
echo "  killed before done, nothing left: $gone"
echo "  restore had completed, intact:    $complete"
echo "  left behind (half-restored):      $left"
echo "  later restores failed:            $later_failed"
[ "$left" = 0 ] && [ "$later_failed" = 0 ]
