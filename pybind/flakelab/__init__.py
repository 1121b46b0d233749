"""flakelab: run flaky-test trials and triage their results (SQLite), from Python.

    import flakelab
    ids = flakelab.run("scm06", trials=200, params={"restore_delay_us": [0, 1000, 5000]},
                       placement="same-l3,cross-l3", expect="flaky", db="run.db")
    r = flakelab.Results("run.db")
    r.cells(); r.trials(); r.runs(); r.signatures(); r.skipped()   # tidy pandas DataFrames
    print(flakelab.report("run.db")); flakelab.gate("run.db", baseline="old.db")

`run` takes every option of `flakelab run` (it goes through the CLI's own parser and run
API); `run_iter` runs in a background thread and yields status while it does; `watch`
follows a database another process is writing.
"""
import os
import queue
import threading
import time

from . import _frames, _native
from ._native import HarnessError, StoreError, __version__

__all__ = [
    "HarnessError", "Results", "StoreError", "compare", "cpu", "gate", "merge", "report", "report_data", "run",
    "run_iter", "scenarios", "topology", "watch", "__version__",
]


def cpu():
    """Identity of this CPU, machine and kernel: dict with vendor, brand, family, model, stepping,
    codename (flakelab's table's, else libcpuid's), codename_source, libcpuid_codename,
    table_codename, microarchitecture (flakelab's table), packages, cores, logical_cpus,
    numa_nodes, l3_domains (what the OS sees, hwloc: a VM's vCPUs), smt, hypervisor (name,
    '' on bare metal), kernel, machine, hostname, microcode."""
    return _native.cpu()


def topology():
    """This machine's processing units (hwloc): dict with pus (Linux CPU numbers this process may
    use, ascending), cpu_list ('0-3' form), packages, cores, machine_pus, l3_groups,
    numa_nodes, smt."""
    return _native.topology()


def scenarios():
    """Every built-in scenario, sorted by name: list of dicts with name, description and params
    (a list of dicts with name, default, help, type (as `flakelab scenarios` shows it), choices,
    and kind: integer, float, bool (an on/off choice), duration, choice or string; the kind is
    the type of the parameter's DataFrame column)."""
    return _native.scenarios()


# --- run -------------------------------------------------------------------------------------

def _duration(value, name):
    """A duration argument as flakelab's grammar: a str as written ("500us", "2s"), a number of
    seconds, or a datetime.timedelta."""
    if isinstance(value, str):
        return value
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a duration such as '500ms', a number of seconds or a timedelta, "
                        f"got {value!r}")
    return f"{round(value * 1e9)}ns"


def _param_text(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if hasattr(value, "total_seconds"):
        return _duration(value, "params")
    return str(value)


def _run_arguments(scenario, campaign, trials, params, db, seed, cpus, placement, jobs, timeout, max_time,
                   until_failures, expect, noise, jitter, engine_cli, command, spread, share_pus,
                   fresh_namespaces, keep_artifacts, artifacts_dir, failure, ignore, shard, shard_group, topology,
                   dry_run):
    """`flakelab run`'s arguments for run()'s keywords (`--name=value`, so a value may start with '-')."""
    args = []
    if command is not None and scenario is None:
        scenario = "cmd"
    if scenario is not None:
        names = [scenario] if isinstance(scenario, str) else list(scenario)
        if not names or not all(isinstance(n, str) and n and not n.startswith("-") for n in names):
            raise ValueError(f"scenario: expected a scenario name or a list of them, got {scenario!r}")
        args += names
    if campaign is not None:
        args.append(f"--campaign={os.fspath(campaign)}")
    if params is not None:
        if not isinstance(params, dict):
            raise TypeError("params: expected a dict {name: value}; a list of values is a grid")
        for name, value in params.items():
            values = value if isinstance(value, (list, tuple, range)) else [value]
            if not values:
                raise ValueError(f"params: {name} has an empty list of values")
            args += [f"--param={name}={_param_text(v)}" for v in values]
    if cpus is not None:
        if isinstance(cpus, dict):
            cpus = ",".join(f"{role}={cpu}" for role, cpu in cpus.items())
        if not isinstance(cpus, str):
            raise TypeError("cpus: expected None, a str like 'victim=0,injector=1' or a dict {role: cpu}")
        args.append(f"--cpus={cpus}")
    options = [
        ("trials", trials), ("db", None if db is None else os.fspath(db)), ("seed", seed), ("placement", placement),
        ("jobs", jobs), ("until-failures", until_failures), ("expect", expect), ("noise", noise),
        ("engine-cli", engine_cli), ("keep-artifacts", keep_artifacts),
        ("artifacts-dir", None if artifacts_dir is None else os.fspath(artifacts_dir)), ("shard", shard),
        ("shard-group", shard_group), ("topology", topology),
    ]
    for name, value in options:
        if value is not None:
            args.append(f"--{name}={value}")
    for name, value in [("timeout", timeout), ("max-time", max_time), ("jitter", jitter)]:
        if value is not None:
            args.append(f"--{name}={_duration(value, name.replace('-', '_'))}")
    for name, flag in [("spread", spread), ("share-pus", share_pus), ("fresh-namespaces", fresh_namespaces),
                       ("dry-run", dry_run)]:
        if flag:
            args.append(f"--{name}")
    for name, regexes in [("failure", failure), ("ignore", ignore)]:
        args += [f"--{name}={r}" for r in ([regexes] if isinstance(regexes, str) else regexes)]
    if command is not None:
        words = command.split() if isinstance(command, str) else [os.fspath(w) for w in command]
        if not words:
            raise ValueError("command: empty")
        args += ["--"] + words
    return args


def run(scenario=None, *, trials=None, params=None, db=None, seed=None, cpus=None, placement=None, jobs=None,
        timeout=None, max_time=None, until_failures=None, expect=None, noise=None, jitter=None, engine_cli=None,
        campaign=None, command=None, spread=False, share_pus=False, fresh_namespaces=False, keep_artifacts=None,
        artifacts_dir=None, failure=(), ignore=(), shard=None, shard_group=None, topology=None, dry_run=False,
        progress=None, status=None, status_interval=5.0):
    """Runs trials into a results DB, as `flakelab run` does (its own parser and run API), and
    returns the run id, or a list of run ids when there are several cells (a grid, several
    placements or scenarios, a campaign). Every option left None takes the campaign file's
    value, else the CLI's default (trials 100, db 'flakelab.db', timeout 10 s, jobs 1, ...).

    scenario: a name or a list of names (`flakelab.scenarios()`); campaign: a TOML campaign file
    instead; params: {name: value}, a list of values is a grid (one cell per value), bools
    become on/off; cpus: 'victim=0,injector=1' or {'victim': 0, ...}; placement: 'same-pu',
    'same-l3,random', 'all'...; timeout, max_time, jitter: '500ms' style strings, seconds or
    timedeltas; until_failures: stop a cell after K failing trials; expect: 'pass' or 'flaky';
    noise: 'spin@smt-sibling,...'; engine_cli: checkpoint with a CRIU-compatible CLI;
    command: the cmd scenario's command (list or str; implies scenario 'cmd'); spread: cmd's
    threads over the placement's PUs; share_pus, fresh_namespaces, keep_artifacts (failed |
    always | never), artifacts_dir, failure/ignore (regexes), shard ('I/N'), shard_group,
    seed: as the CLI. topology or dry_run=True: returns the plan's text, runs nothing.
    Each run records the equivalent `flakelab run ...` line, so `flakelab rerun RUN TRIAL`
    replays its trials; not a grid's (its line repeats --param, which the CLI refuses).

    progress: callable(done, total, failures) after each trial of a cell; status:
    callable(dict) every status_interval seconds for the whole run, with cells_done, cells,
    done, total, failing, errors, elapsed_s, rate_per_s, eta_s, budget_left_s.
    The GIL is released while trials run. Ctrl-C (KeyboardInterrupt), or an exception raised by a
    callback, stops the run: finished trials are kept in the DB, the run is ended, and the
    exception propagates with a `run_id` attribute. Bad arguments raise ValueError (the CLI's
    message) before anything is written."""
    args = _run_arguments(scenario, campaign, trials, params, db, seed, cpus, placement, jobs, timeout, max_time,
                          until_failures, expect, noise, jitter, engine_cli, command, spread, share_pus,
                          fresh_namespaces, keep_artifacts, artifacts_dir, failure, ignore, shard, shard_group,
                          topology, dry_run)
    return _native.run_arguments(args, progress, status, float(status_interval))


def run_iter(scenario=None, *, status_interval=1.0, **options):
    """run() in a background thread, as a generator: yields run()'s status dict every
    status_interval seconds while trials run; the generator's return value (StopIteration.value)
    is run()'s. Closing the generator, or Ctrl-C while it waits, stops the run (finished trials
    are kept) and waits for it to end. An exception of the run is raised from the generator.

        for status in flakelab.run_iter("selftest/coin", trials=10000, db="c.db"):
            print(f"{status['done']}/{status['total']} failing {status['failing']}")
    """
    updates = queue.Queue()
    stop = threading.Event()
    outcome = {}
    user_progress = options.pop("progress", None)
    if "status" in options:
        raise TypeError("run_iter yields the status; pass no status callback")

    def progress(done, total, failing):
        if user_progress is not None:
            user_progress(done, total, failing)
        if stop.is_set():
            raise KeyboardInterrupt("run_iter closed")

    def work():
        try:
            outcome["value"] = run(scenario, progress=progress, status=updates.put,
                                   status_interval=status_interval, **options)
        except BaseException as e:  # handed to the generator's thread
            outcome["error"] = e
        finally:
            updates.put(None)

    thread = threading.Thread(target=work, name="flakelab.run_iter", daemon=True)
    thread.start()
    try:
        while True:
            try:
                update = updates.get(timeout=0.2)
            except queue.Empty:
                continue
            if update is None:
                break
            yield update
    finally:
        stop.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def watch(db, *, interval=5.0, timeout=None):
    """Follows a results DB that a run (this process's or another's, e.g. the CLI) is writing:
    yields a dict every `interval` seconds with runs (ids), running (ids of runs not ended),
    trials, failing, errors and cells (Results.cells() now). Ends once a run was seen and none
    is running, or after `timeout` seconds. Trials reach the DB within ~0.5 s of finishing."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen_run = False
    while True:
        if os.path.exists(db):
            results = Results(db)
            runs = results.runs()
            running = [int(i) for i in runs.loc[runs["ended_at"].isna(), "run_id"]]
            yield {
                "runs": [int(i) for i in runs["run_id"]], "running": running,
                "trials": int(runs["trials"].sum()), "failing": int(runs["failing"].sum()),
                "errors": int(runs["errors"].sum()), "cells": results.cells(),
            }
            seen_run = seen_run or len(runs) > 0
            if seen_run and not running:
                return
        if deadline is not None and time.monotonic() >= deadline:
            return
        time.sleep(interval)


# --- triage ----------------------------------------------------------------------------------

def report(db="flakelab.db", format="text", *, run=None, since=None, title=None):
    """`flakelab report --format FORMAT`'s text (text, json, junit, html, markdown; results/REPORTS.md),
    of every run or only run `run` / runs started since `since` (a date or epoch ms).
    FileNotFoundError for a missing DB, ValueError for a bad format, run or date."""
    return _native.report(os.fspath(db), format, run, since, title)


def report_data(db="flakelab.db", *, run=None, since=None):
    """The report as data: the JSON report ("flakelab-report/1", results/REPORTS.md) parsed."""
    import json

    return json.loads(report(db, "json", run=run, since=since))


def compare(run_a, run_b, *, db="flakelab.db", db_b=None):
    """`flakelab compare RUN_A RUN_B`'s text: the cells of two runs (each stands for every cell of
    its `flakelab run`) side by side with Fisher's exact test. db_b: run_b's DB if another."""
    return _native.compare(os.fspath(db), int(run_a), int(run_b), "" if db_b is None else os.fspath(db_b))


def gate(db="flakelab.db", *, baseline=None, alpha=0.01, confidence=0.95, pool_cpus=False, ignore_params=()):
    """`flakelab gate`'s verdict as a dict: passed (bool), problems (list of str, each readable on
    its own) and text (the whole explanation, what the CLI prints)."""
    return _native.gate(os.fspath(db), None if baseline is None else os.fspath(baseline), float(alpha),
                        float(confidence), bool(pool_cpus), list(ignore_params))


def merge(output, inputs):
    """`flakelab merge -o OUTPUT INPUTS...`: merges result DBs (deduplicated, so merging twice adds
    nothing) and returns what was added: inputs, hosts_added, runs_added, runs_already_present,
    trials_added, trials_already_present, failures_added, signatures_added, shards_complete
    and shard_sets (text)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return _native.merge(os.fspath(output), [os.fspath(i) for i in inputs])


# Columns of Results.rates(): one row per cell without the parameter columns.
RATE_COLUMNS = ["scenario", "placement", "params", "cpu_model", "runs", "trials", "passes", "failures", "timeouts",
                "errors", "failing", "rate", "wilson_low", "wilson_high", "upper_bound", "flaky", "verdict",
                "as_expected", "wall_ms"]

_RUN_COLUMNS_FOR_TRIALS = ["scenario", "placement", "params", "expect", "seed", "hostname", "cpu_model",
                           "cpu_vendor", "cpu_codename", "hypervisor", "vcpus", "kernel"]


class Results:
    """A results DB opened for triage; every table is a tidy pandas.DataFrame: one row per cell,
    run, trial, signature or skipped cell, each scenario parameter its own typed column (see
    flakelab.scenarios(): kind), `engine` ("flakelab", the engine_cli command, or "" for a
    scenario without a checkpoint), and times as UTC datetimes. A parameter whose name is a fixed
    column's (e.g. engine) is named param_NAME. Failing means fail or timeout; errors are
    counted, not rated. Reading while a run writes the DB is fine (SQLite WAL)."""

    def __init__(self, path):
        """Opens the results DB at `path` (FileNotFoundError if missing; migrates an older schema)."""
        self._store = _native.NativeStore(os.fspath(path))

    @property
    def path(self):
        return self._store.path

    def run_ids(self):
        """Run ids in the DB, ascending."""
        return self._store.run_ids()

    def cells(self):
        """One row per cell (scenario x placement x params x CPU model), ordered by cell: scenario,
        placement, params ('k=v,k=v'), cpu_model, runs, trials, passes, failures, timeouts, errors,
        failing, rate (failing/trials), wilson_low, wilson_high (95% Wilson interval), upper_bound
        (one-sided 95% bound when nothing failed, else wilson_high), flaky, verdict and
        as_expected (`flakelab run`'s rule, results/REPORTS.md), wall_ms, expect (pass, flaky,
        pass+flaky, or None before schema v4), hosts, hypervisor (the machine kinds of its runs,
        ','-joined; '' on bare metal), engine, then the parameter columns."""
        cells = _frames.frame(self._store.cells())
        runs = _frames.frame(self._store.runs())
        key = ["scenario", "placement", "params", "cpu_model"]
        if len(cells):  # every cell has runs
            machines = runs.groupby(key, sort=False).agg(
                hosts=("hostname", "nunique"),
                hypervisor=("hypervisor", lambda h: ",".join(sorted(set(h)))),
            ).reset_index()
            cells = cells.merge(machines, on=key, how="left")
        else:
            cells = cells.assign(hosts=[], hypervisor=[])
        return _frames.add_param_columns(cells)

    def rates(self):
        """cells() without the machine, engine and parameter columns (RATE_COLUMNS)."""
        return self.cells()[RATE_COLUMNS]

    def runs(self):
        """One row per run, by start time then id: run_id, run_uid, invocation (shared by the cells
        of one `flakelab run`), cell, scenario, placement, params, expect, seed, command_line,
        version, started_at, ended_at (NaT while running or if it crashed), shard, shard_group,
        campaign_hash, planned_trials, artifacts_dir, hostname, cpu_vendor, cpu_model (brand),
        cpu_family, cpu_model_number, cpu_stepping, cpu_codename, microcode, kernel, hypervisor,
        vcpus, trials, passes, failures, timeouts, errors, failing, rate, wilson_low, wilson_high,
        engine, then the parameter columns."""
        runs = _frames.frame(self._store.runs())
        runs = _frames.to_datetime(runs, started_at_ms="started_at", ended_at_ms="ended_at")
        return _frames.add_param_columns(runs)

    def trials(self, run=None, signature=None):
        """One row per trial, ordered by run id then index; only run `run` and/or only those with
        signature hash `signature` when given: run_id, index, outcome (pass/fail/timeout/error),
        duration_ms, finished_at (UTC; NaT for a pass recorded before schema v7), cpus_used,
        message, signature (hash, '' for a pass or no message), log_excerpt, artifact_path, then
        its run's scenario, placement, params, expect, seed, hostname, cpu_model, cpu_vendor,
        cpu_codename, hypervisor, vcpus, kernel, engine and parameter columns."""
        trials = _frames.frame(self._store.trials(run, signature))
        trials = _frames.to_datetime(trials, finished_at_ms="finished_at")
        runs = _frames.frame(self._store.runs())[["run_id"] + _RUN_COLUMNS_FOR_TRIALS]
        columns = list(trials.columns) + _RUN_COLUMNS_FOR_TRIALS
        trials = trials.merge(runs, on="run_id", how="left", sort=False)[columns]  # (an empty merge reorders)
        return _frames.add_param_columns(trials)

    def signatures(self):
        """Failure signatures, most frequent first: hash (16 hex digits), normalized,
        example_message, count, total_count, first_seen, last_seen (UTC), cells."""
        sigs = _frames.frame(self._store.signatures())
        return _frames.to_datetime(sigs, first_seen_ms="first_seen", last_seen_ms="last_seen")

    def skipped(self):
        """Planned cells that could not run on their machine: scenario, placement, params,
        cpu_model, expect, reason, recorded_at (UTC), engine, then the parameter columns."""
        skipped = _frames.to_datetime(_frames.frame(self._store.skipped()), recorded_at_ms="recorded_at")
        return _frames.add_param_columns(skipped)

    def report(self, format="text", **options):
        """flakelab.report() of this DB."""
        return report(self.path, format, **options)

    def __repr__(self):
        return f"flakelab.Results({self.path!r})"
