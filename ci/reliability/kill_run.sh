#!/usr/bin/env bash
# Kills `flakelab run` with SIGKILL at random moments and counts the trials it lost
# (issue 16.6). Usage: ci/reliability/kill_run.sh [N] [FLAKELAB]
#   N         kills (default 30), spread over selftest/noop, cr/threads and scm06
#   FLAKELAB  the binary (default build/harness/flakelab)
# For each kill: the run prints a progress line every 100 ms (FLAKELAB_PROGRESS_INTERVAL),
# each counting the trials recorded so far; after the kill, the database is read.
#   lost      trials counted by the last line before the kill but not in the database
#             (at most the last max-pending-age's, ~0.5 s)
#   lost_1s   the same for the last line printed >= 1 s before the kill: must be 0
# and the next run must remove the killed run's temporary root. Exits 1 if any lost_1s
# is not 0 or a root stayed. Needs root (trials use namespaces and ptrace).
set -euo pipefail
n=${1:-30}
bin=${2:-build/harness/flakelab}
[[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "kill_run.sh: N must be a positive integer, got '$n'" >&2; exit 2; }
[[ -x $bin ]] || { echo "kill_run.sh: no flakelab binary at '$bin' (build first, or pass its path)" >&2; exit 2; }
exec /usr/bin/python3 - "$n" "$(realpath "$bin")" <<'PY'
import os, random, re, select, signal, sqlite3, subprocess, sys, tempfile, time

n, binary = int(sys.argv[1]), sys.argv[2]
scenarios = [["selftest/noop"], ["cr/threads"], ["scm06"]]
line_re = re.compile(rb"cells \d+/\d+, (\d+)/\d+ trials")
work = tempfile.mkdtemp(prefix="flakelab-kill-run-")
tmp = os.path.join(work, "tmp")
os.mkdir(tmp)
env = dict(os.environ, TMPDIR=tmp, FLAKELAB_PROGRESS_INTERVAL="100ms")
bad = 0
totals = {}
print(f"{'kill':>4}  {'scenario':<14} {'at_s':>5} {'in_db':>6} {'last':>6} {'lost':>4} {'lost_1s':>7} {'root':>7}")
for k in range(n):
    scenario = scenarios[k % len(scenarios)]
    db = os.path.join(work, f"k{k}.db")
    proc = subprocess.Popen([binary, "run", *scenario, "-n", "1000000", "--db", db],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=work)
    kill_after = random.uniform(0.3, 5.0)
    start = time.monotonic()
    lines, buf = [], b""
    while time.monotonic() - start < kill_after:
        ready, _, _ = select.select([proc.stderr], [], [], 0.02)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            now = time.monotonic()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                m = line_re.search(line)
                if m:
                    lines.append((now, int(m.group(1))))
    killed = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    last = lines[-1][1] if lines else 0
    last_1s = max([t for at, t in lines if killed - at >= 1.0], default=0)
    in_db = 0
    if os.path.exists(db):
        con = sqlite3.connect(db)
        in_db = con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        con.close()
    # The next run removes the dead run's root.
    subprocess.run([binary, "run", "selftest/coin", "-n", "1", "-p", "p=0", "--db", os.path.join(work, "next.db")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=work, check=True)
    left = [e for e in os.listdir(tmp) if e.startswith("flakelab-run-")]
    lost, lost_1s = max(0, last - in_db), max(0, last_1s - in_db)
    name = scenario[0]
    t = totals.setdefault(name, [0, 0, 0, 0, 0])
    t[0] += 1; t[1] += in_db; t[2] += lost; t[3] += lost_1s; t[4] += len(left)
    bad += lost_1s > 0 or bool(left)
    print(f"{k + 1:>4}  {name:<14} {killed - start:5.2f} {in_db:>6} {last:>6} {lost:>4} {lost_1s:>7} "
          f"{'left' if left else 'removed':>7}", flush=True)
    for e in left:
        subprocess.run(["rm", "-rf", os.path.join(tmp, e)], check=False)
print("\nscenario        kills  trials_kept  lost(<1s)  lost_1s  roots_left")
for name, (kills, kept, lost, lost_1s, left) in totals.items():
    print(f"{name:<14} {kills:>6} {kept:>12} {lost:>10} {lost_1s:>8} {left:>11}")
subprocess.run(["rm", "-rf", work], check=False)
sys.exit(1 if bad else 0)
PY
