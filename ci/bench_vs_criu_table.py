#!/usr/bin/env python3
"""Prints the medians ci/bench_vs_criu.sh collected and the ratios issue 21 sets
targets for, each against a floor or CRIU measured in the same run.

usage: bench_vs_criu_table.py DIR   (DIR holds engine_cli.json, engine.json, scm.json,
                                     harness.json, compel.json from Google Benchmark)
"""
import json
import os
import sys

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def load(path):
    """Median aggregates of one binary's JSON, by benchmark name without its options."""
    with open(path) as f:
        data = json.load(f)
    medians = {}
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name") != "median":
            continue
        if b.get("error_occurred"):
            continue
        parts = [p for p in b["run_name"].split("/")
                 if not p.startswith(("min_time:", "repeats:")) and p not in ("real_time", "manual_time")]
        medians["/".join(parts)] = b
    return medians


def ms(entry):
    return entry["real_time"] * UNIT_MS[entry["time_unit"]]


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit(__doc__)
    d = sys.argv[1]
    runs = {}
    for name in ("engine_cli", "engine", "scm", "harness", "compel"):
        path = os.path.join(d, name + ".json")
        if not os.path.exists(path):
            sys.exit(f"bench_vs_criu_table.py: {path} is missing")
        runs[name] = load(path)

    def get(run, name):
        entry = runs[run].get(name)
        if entry is None:
            raise KeyError(f"{run}: no median for {name} (did it fail? see {run}.txt)")
        return entry

    def time_ms(run, name):
        return ms(get(run, name))

    rows = []  # (what, value, anchor, ratio text, target text, met or None)

    def row(what, value, anchor, ratio, target, met):
        rows.append((what, value, anchor, ratio, target, met))

    cli = runs["engine_cli"]
    fork_exec = time_ms("engine_cli", "Floor_ForkExecStaticNoop")
    fork_wait = time_ms("engine_cli", "Floor_ForkExitWait")
    big = 256 << 20
    big_floor = time_ms("engine_cli", f"Floor_Memcpy/{big}") + time_ms("engine_cli", f"Floor_TmpfsWrite/{big}")
    row("floor: fork + _exit + waitpid", f"{fork_wait:.3f} ms", "", "", "", None)
    row("floor: fork + exec of a static no-op", f"{fork_exec:.3f} ms", "", "", "", None)
    row("floor: memcpy 256 MiB + write 256 MiB to a new tmpfs file", f"{big_floor:.1f} ms",
        f"memcpy {time_ms('engine_cli', f'Floor_Memcpy/{big}'):.1f} + tmpfs {time_ms('engine_cli', f'Floor_TmpfsWrite/{big}'):.1f}",
        "", "", None)
    version = time_ms("engine_cli", "BM_CliVersion")
    row("`flakelab --version`", f"{version:.2f} ms", "fork+exec floor", f"{version / fork_exec:.2f}x floor", "", None)

    have_criu = "BM_VsCriu/0" in cli
    if have_criu:
        for size, label in ((0, "small idle process"), (big, "256 MiB dirty anonymous")):
            v = get("engine_cli", f"BM_VsCriu/{size}")
            # The floor taken inside the same iterations (BM_VsCriu's floor_ms), else the
            # floor benchmark of the same binary.
            floor = v.get("floor_ms") or (fork_exec if size == 0 else big_floor)
            for step in ("dump", "restore"):
                flk, criu = v[f"flk_{step}_ms"], v[f"criu_{step}_ms"]
                faster = criu / flk
                if size == 0:
                    row(f"CLI {step}, {label}", f"{flk:.2f} ms", f"CRIU {criu:.2f} ms; fork+exec {floor:.2f} ms",
                        f"{flk / floor:.2f}x fork+exec; CRIU/flakelab {faster:.2f}x",
                        "<= 2x fork+exec, >= 5x faster than CRIU", flk <= 2 * floor and faster >= 5)
                else:
                    row(f"CLI {step}, {label} (new directory each time)", f"{flk:.1f} ms",
                        f"CRIU {criu:.1f} ms; memcpy+tmpfs {floor:.1f} ms",
                        f"{flk / floor:.2f}x memcpy+tmpfs; CRIU/flakelab {faster:.2f}x",
                        "<= 2x memcpy+tmpfs, >= 3x faster than CRIU", flk <= 2 * floor and faster >= 3)
        lib = time_ms("engine", "BM_Dump/0") + time_ms("engine", "BM_Restore/0")
        small = get("engine_cli", "BM_VsCriu/0")
        criu_pair = small["criu_dump_ms"] + small["criu_restore_ms"]
        row("in-library small dump + restore", f"{lib:.2f} ms", f"CRIU CLI pair {criu_pair:.1f} ms",
            f"CRIU/flakelab {criu_pair / lib:.1f}x", ">= 10x", criu_pair / lib >= 10)
    else:
        row("CRIU", "not measured (no FLAKELAB_CRIU)", "", "", "", None)
    for size, label in ((0, "small"), (big, "256 MiB")):
        for bench in ("BM_CliDumpFresh", "BM_CliRestore"):
            name = f"{bench}/{size}"
            if name in cli:
                row(f"{bench} {label}", f"{time_ms('engine_cli', name):.2f} ms", "", "", "", None)
    for size, label in ((0, "small"), (big, "256 MiB")):
        for bench in ("BM_Dump", "BM_Restore"):
            row(f"in-library {bench[3:].lower()}, {label}", f"{time_ms('engine', f'{bench}/{size}'):.2f} ms",
                "", "", "", None)

    scm = get("scm", "BM_ScmTrial/scm06/0")
    scm_fork = time_ms("scm", "Floor_ForkExitWait")
    own = scm["trial_minus_wait_ms"]
    row("scm06 trial without the unix-gc wait, same CPU", f"{own:.2f} ms",
        f"fork+exit+wait {scm_fork:.3f} ms (gc wait {scm['unix_gc_wait_ms']:.1f} ms)",
        f"{own / scm_fork:.2f}x fork+exit+wait", "<= 3x", own <= 3 * scm_fork)

    h_fork = time_ms("harness", "Floor_ForkExitWait")
    noop = get("harness", "BM_Trial/selftest_noop")["ms_per_trial"]
    row("harness: selftest/noop trial", f"{noop:.3f} ms", f"fork+exit+wait {h_fork:.3f} ms",
        f"{noop / h_fork:.2f}x fork+exit+wait", "", None)
    for busy in (2000, 10000):
        one = runs["harness"].get(f"BM_Throughput/jobs:1/busy_us:{busy}")
        two = runs["harness"].get(f"BM_Throughput/jobs:2/busy_us:{busy}")
        if one and two:
            row(f"harness: -j 2 / -j 1, {busy // 1000} ms CPU-bound trials",
                f"{two['trials_per_s']:.0f} / {one['trials_per_s']:.0f} trials/s", "2 CPUs",
                f"{two['trials_per_s'] / one['trials_per_s']:.2f}x", "", None)

    c_fork = time_ms("compel", "Floor_ForkExitWait")
    for name, what in (("BM_RemoteSyscallRoundTrip", "compel: remote syscall round trip"),
                       ("BM_SeizeRelease", "compel: seize + release"), ("BM_InfectCure", "compel: infect + cure")):
        t = time_ms("compel", name) * 1000
        row(what, f"{t:.1f} us", f"fork+exit+wait {c_fork * 1000:.0f} us", f"{t / (c_fork * 1000):.3f}x", "", None)

    print()
    print("| what | median | anchor (same run) | ratio | target | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for what, value, anchor, ratio, target, met in rows:
        print(f"| {what} | {value} | {anchor} | {ratio} | {target} | {'' if met is None else ('yes' if met else 'no')} |")


if __name__ == "__main__":
    try:
        main()
    except KeyError as e:
        sys.exit(f"bench_vs_criu_table.py: {e.args[0]}")
