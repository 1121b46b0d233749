#!/bin/bash
# Issue 16 point 1: SIGKILL `flakelab dump` at random moments and check that every
# victim survives intact. N (default 2000) kills with --leave-running, N without.
#
#   ci/reliability/kill_dump.sh [N]
#   env: FLAKELAB (default build/harness/flakelab), VICTIM (default
#        build/engine/tests/kill_dump_victim), BUILD (default build)
#
# A victim is damaged if it died without a complete image (kill mode), or if it is
# alive but differs from before: maps, fds, per-thread Cpus_allowed / SigBlk,
# traced or stopped, or its own self-check fails (text checksum, worker progress,
# floating point). Prints the counts; exits 1 if any victim was damaged.
set -euo pipefail
N=${1:-2000}
if ! [[ $N =~ ^[0-9]+$ ]] || (( N < 1 )); then
  echo "kill_dump.sh: N must be a positive integer, got '$N'" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
FLAKELAB=${FLAKELAB:-$BUILD/harness/flakelab}
VICTIM=${VICTIM:-$BUILD/engine/tests/kill_dump_victim}
for f in "$FLAKELAB" "$VICTIM"; do
  [[ -x $f ]] || { echo "kill_dump.sh: $f is not built (cmake --build $BUILD)" >&2; exit 2; }
done
exec /usr/bin/python3 - "$N" "$FLAKELAB" "$VICTIM" <<'PY'
import os, random, shutil, signal, subprocess, sys, tempfile, time

n, flakelab, victim_bin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
work = tempfile.mkdtemp(prefix="flk-kill-dump-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None

def status_field(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return None

def snapshot(pid):
    """What must not change: maps, fds, and per thread affinity and blocked mask."""
    maps = read(f"/proc/{pid}/maps")
    if maps is None:
        return None
    lines = []
    for l in maps.splitlines():
        parts = l.split()
        # [stack] may grow; compare everything else exactly.
        lines.append(" ".join(parts[:2] + parts[5:]) if "[stack]" not in l else "[stack]")
    fds = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        threads = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            st = read(f"/proc/{pid}/task/{tid}/status") or ""
            threads[tid] = (status_field(st, "Cpus_allowed_list"), status_field(st, "SigBlk"))
    except OSError:
        return None
    return {"maps": lines, "fds": fds, "threads": threads}

def alive(pid):
    st = read(f"/proc/{pid}/status")
    return st is not None and status_field(st, "State")[0] not in "ZX"

def settled(pid, timeout=2.0):
    """Wait until no thread is traced; True if so."""
    end = time.time() + timeout
    while time.time() < end:
        ok = True
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                st = read(f"/proc/{pid}/task/{tid}/status") or ""
                if status_field(st, "TracerPid") not in (None, "0"):
                    ok = False
        except OSError:
            return True
        if ok:
            return True
        time.sleep(0.002)
    return False

class Victim:
    def __init__(self):
        self.answer = os.path.join(work, f"answer-{time.time_ns()}")
        self.proc = subprocess.Popen([victim_bin, self.answer], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.asked = 0
        end = time.time() + 5
        while read(self.answer) is None:
            if time.time() > end:
                raise SystemExit("kill_dump.sh: the victim did not start")
            time.sleep(0.001)
        # Once it has answered, it is back in sigwaitinfo (which unblocks SIGUSR1
        # while it waits) within microseconds.
        time.sleep(0.02)
        self.before = snapshot(self.proc.pid)
        why = self.check()
        if why is not None:
            raise SystemExit("kill_dump.sh: a fresh victim fails its own check: " + why)
        time.sleep(0.02)
        self.before = snapshot(self.proc.pid)

    def check(self):
        """None if intact, else why not."""
        pid = self.proc.pid
        if not settled(pid):
            return "still traced"
        if not alive(pid):
            return "died (%s)" % self.proc.poll()
        for tid in os.listdir(f"/proc/{pid}/task"):
            state = status_field(read(f"/proc/{pid}/task/{tid}/status") or "", "State") or "?"
            if state[0] in "tT":
                return f"thread {tid} stopped ({state})"
        # Undoing is asynchronous (a parasite noticing its socket closed, the pin
        # guardian, a thread between sigwaitinfo calls): damage is what persists.
        end = time.time() + 1.0
        while True:
            now = snapshot(pid)
            if now is None:
                return "vanished"
            diff = [k for k in ("maps", "fds", "threads") if now[k] != self.before[k]]
            if not diff:
                break
            if time.time() > end:
                k = diff[0]
                return f"{k} changed: {self.before[k]} -> {now[k]}"
            time.sleep(0.005)
        self.asked += 1
        os.kill(pid, signal.SIGUSR1)
        end = time.time() + 5
        while time.time() < end:
            text = (read(self.answer) or "").split()
            if text and text[0] == str(self.asked):
                return None if text[1] == "ok" else " ".join(text[1:])
            if not alive(pid):
                return "died answering"
            time.sleep(0.001)
        return "no answer"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

def image_complete(d):
    r = subprocess.run([flakelab, "show", "-D", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0

def run_mode(leave_running):
    mode = "leave-running" if leave_running else "kill"
    counts = dict(damaged=0, injector_killed=0, dump_finished=0, victims_intact=0,
                  victims_killed_with_complete_image=0, complete_images=0, dump_failed=0)
    victim = Victim()
    # The time window to aim at: a few dumps that are left to finish.
    durations = []
    for _ in range(3):
        d = tempfile.mkdtemp(dir=work)
        t0 = time.time()
        subprocess.run([flakelab, "dump", "-t", str(victim.proc.pid), "-D", d, "-R"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        durations.append(time.time() - t0)
        shutil.rmtree(d, ignore_errors=True)
    window = sorted(durations)[1]  # the median: most kills land inside the dump
    examples = []
    for i in range(n):
        if victim is None:
            victim = Victim()
        d = tempfile.mkdtemp(dir=work)
        args = [flakelab, "dump", "-t", str(victim.proc.pid), "-D", d] + (["-R"] if leave_running else [])
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(random.uniform(0, window))
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        killed = p.returncode == -signal.SIGKILL
        counts["injector_killed" if killed else "dump_finished"] += 1
        if not killed and p.returncode != 0:
            counts["dump_failed"] += 1
            if len(examples) < 5:
                examples.append(f"dump exit {p.returncode}: {err.decode(errors='replace').strip()[:300]}")
        complete = image_complete(d)
        counts["complete_images"] += complete
        if alive(victim.proc.pid) or not settled(victim.proc.pid, 0.2):
            why = victim.check()
            if why is None:
                counts["victims_intact"] += 1
            else:
                counts["damaged"] += 1
                if len(examples) < 10:
                    examples.append(f"#{i} ({'injector killed' if killed else 'dump finished'}): {why}")
                victim.stop()
                victim = None
        else:
            victim.stop()
            if complete and not leave_running:
                counts["victims_killed_with_complete_image"] += 1
            else:
                counts["damaged"] += 1
                if len(examples) < 10:
                    examples.append(f"#{i}: victim died, image {'complete' if complete else 'incomplete'}")
            victim = None
        shutil.rmtree(d, ignore_errors=True)
    if victim is not None:
        victim.stop()
    print(f"{mode}: {n} random SIGKILLs within {window * 1000:.1f} ms of the start: " +
          ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    for e in examples:
        print(f"  {mode}: {e}")
    sys.stdout.flush()
    return counts["damaged"]

try:
    damaged = run_mode(True) + run_mode(False)
finally:
    shutil.rmtree(work, ignore_errors=True)
print("kill_dump.sh: " + ("FAIL: %d damaged victims" % damaged if damaged else "PASS: no victim damaged"))
sys.exit(1 if damaged else 0)
PY
