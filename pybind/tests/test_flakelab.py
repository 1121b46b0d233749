"""Tests of the `flakelab` Python module and the triage notebook.

Run by ctest as `pybind_pytest` (PYTHONPATH points at the built module, FLAKELAB_NOTEBOOK at
results/notebooks/triage.ipynb), or by hand:
    PYTHONPATH=BUILD/python /usr/bin/python3 -m pytest -q pybind/tests
"""
import os
import pathlib
import signal
import subprocess
import sys
import sqlite3
import textwrap

import pytest

import flakelab

NOTEBOOK = pathlib.Path(
    os.environ.get(
        "FLAKELAB_NOTEBOOK",
        pathlib.Path(__file__).resolve().parents[2] / "results" / "notebooks" / "triage.ipynb",
    )
)

RATE_COLUMNS = ["scenario", "placement", "params", "cpu_model", "runs", "trials", "passes", "failures",
                "timeouts", "errors", "failing", "rate", "wilson_low", "wilson_high", "upper_bound",
                "flaky", "verdict", "as_expected", "wall_ms"]
SIGNATURE_COLUMNS = ["hash", "normalized", "example_message", "count", "total_count", "first_seen",
                     "last_seen", "cells"]
# Every trials() frame starts with these; the parameter columns of its scenarios follow.
TRIAL_COLUMNS = ["run_id", "index", "outcome", "duration_ms", "cpus_used", "message", "signature", "log_excerpt",
                 "artifact_path", "finished_at", "scenario", "placement", "params", "expect", "seed", "hostname",
                 "cpu_model", "cpu_vendor", "cpu_codename", "hypervisor", "vcpus", "kernel", "engine"]


def test_cpu():
    cpu = flakelab.cpu()
    for key in ["vendor", "brand", "family", "model", "stepping", "codename", "kernel", "microcode",
                "hostname"]:
        assert key in cpu
    assert cpu["vendor"]
    assert cpu["kernel"] == os.uname().release
    assert isinstance(cpu["family"], int) and cpu["family"] > 0
    # What the OS sees (a VM's vCPUs), not CPUID's per-package counts.
    assert cpu["logical_cpus"] == os.sysconf("SC_NPROCESSORS_ONLN")
    assert 1 <= cpu["cores"] <= cpu["logical_cpus"]
    assert cpu["codename_source"] in ("flakelab's table", "libcpuid")
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    if "hypervisor" in flags:
        assert isinstance(cpu["hypervisor"], str) and cpu["hypervisor"]
    else:
        assert cpu["hypervisor"] == ""


def test_topology():
    topo = flakelab.topology()
    pus = topo["pus"]
    assert pus and all(isinstance(pu, int) for pu in pus)
    assert pus == sorted(pus)
    assert set(pus) <= set(os.sched_getaffinity(0))
    assert topo["cores"] >= 1 and topo["packages"] >= 1


def test_scenarios():
    scenarios = {s["name"]: s for s in flakelab.scenarios()}
    assert "selftest/coin" in scenarios and "compel/stack" in scenarios
    coin = scenarios["selftest/coin"]
    assert coin["description"]
    assert [p["name"] for p in coin["params"]] == ["p"]
    stack = {p["name"]: p for p in scenarios["compel/stack"]["params"]}
    assert "legacy" in stack["check"]["choices"]
    assert coin["params"][0]["type"] == "probability 0..1"
    assert stack["rpc_rounds"]["type"].startswith("integer 0..")


def test_bad_arguments_write_nothing(tmp_path):
    db = tmp_path / "bad.db"
    with pytest.raises(ValueError, match="unknown scenario"):
        flakelab.run("no/such", trials=1, db=str(db))
    with pytest.raises(ValueError):
        flakelab.run("selftest/coin", trials=1, params={"nope": 1}, db=str(db))
    with pytest.raises(ValueError):
        flakelab.run("selftest/coin", trials=0, db=str(db))
    with pytest.raises(ValueError):
        flakelab.run("selftest/coin", trials=1, cpus="victim=100000", db=str(db))
    # Typed parameters are checked when the run is planned, not trial by trial.
    with pytest.raises(ValueError, match="accepts p = a probability from 0 to 1"):
        flakelab.run("selftest/coin", trials=1000, params={"p": 2}, db=str(db))
    with pytest.raises(ValueError, match="accepts cycles = an integer from 1 to 100"):
        flakelab.run("cr/threads", trials=1000, params={"cycles": "abc"}, db=str(db))
    assert not db.exists()
    with pytest.raises(FileNotFoundError):
        flakelab.Results(str(db))


def test_coin_p0_p1_results(tmp_path):
    db = str(tmp_path / "coin.db")
    pass_run = flakelab.run("selftest/coin", trials=20, params={"p": 0}, db=db, seed=7)
    fail_run = flakelab.run("selftest/coin", trials=15, params={"p": 1}, db=db, seed=8)
    assert pass_run != fail_run

    results = flakelab.Results(db)
    assert results.run_ids() == sorted([pass_run, fail_run])

    rates = results.rates()
    assert list(rates.columns) == RATE_COLUMNS
    assert len(rates) == 2
    by_p = {row.params: row for row in rates.itertuples()}
    ok, bad = by_p["p=0"], by_p["p=1"]
    assert (ok.trials, ok.passes, ok.failing, ok.rate) == (20, 20, 0, 0.0)
    assert (bad.trials, bad.failures, bad.rate) == (15, 15, 1.0)
    assert not ok.flaky and not bad.flaky
    for row in (ok, bad):
        assert 0.0 <= row.wilson_low <= row.rate <= row.wilson_high <= 1.0
    assert ok.wilson_low == pytest.approx(0.0, abs=1e-12)
    assert 0.1 < ok.wilson_high < 0.3  # 95% Wilson upper bound for 0/20 is about 0.161
    assert ok.upper_bound == pytest.approx(1 - 0.05 ** (1 / 20))
    assert bad.wilson_high == pytest.approx(1.0)
    assert 0.7 < bad.wilson_low < 0.9  # about 0.796 for 15/15

    sigs = results.signatures()
    assert list(sigs.columns) == SIGNATURE_COLUMNS
    assert len(sigs) == 1
    assert sigs["count"][0] == 15 and sigs["cells"][0] == 1
    assert len(sigs["hash"][0]) == 16

    trials = results.trials()
    assert list(trials.columns) == TRIAL_COLUMNS + ["p"]
    assert len(trials) == 35
    assert len(results.trials(run=pass_run)) == 20
    failed = results.trials(run=fail_run)
    assert list(failed["index"]) == list(range(15))
    assert set(failed["outcome"]) == {"fail"}
    assert set(failed["signature"]) == {sigs["hash"][0]}
    assert set(results.trials(run=pass_run)["outcome"]) == {"pass"}
    by_sig = results.trials(signature=sigs["hash"][0])
    assert len(by_sig) == 15 and set(by_sig["run_id"]) == {fail_run}
    assert len(results.trials(run=pass_run, signature=sigs["hash"][0])) == 0

    empty = flakelab.Results(db).trials(signature="0000000000000000")
    assert len(empty) == 0 and list(empty.columns) == TRIAL_COLUMNS


def test_progress_callback(tmp_path):
    calls = []
    flakelab.run("selftest/coin", trials=12, params={"p": 1}, db=str(tmp_path / "p.db"),
                 progress=lambda done, total, failures: calls.append((done, total, failures)))
    assert calls == [(i, 12, i) for i in range(1, 13)]


def test_gil_released_while_trials_run(tmp_path):
    import threading

    ticks = 0
    stop = threading.Event()

    def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            stop.wait(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        # 10 trials of 50 ms: if the GIL were held, the ticker could only run between trials.
        flakelab.run("selftest/noop", trials=10, params={"sleep_ms": 50}, db=str(tmp_path / "gil.db"))
    finally:
        stop.set()
        thread.join()
    assert ticks >= 50


def test_keyboard_interrupt_from_callback_keeps_finished_trials(tmp_path):
    db = str(tmp_path / "ki.db")

    def progress(done, total, failures):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        flakelab.run("selftest/coin", trials=50, params={"p": 0.5}, db=db, seed=3, progress=progress)
    run_id = info.value.run_id
    results = flakelab.Results(db)
    assert results.run_ids() == [run_id]
    trials = results.trials(run=run_id)
    assert list(trials["index"]) == [0, 1, 2, 3, 4]
    assert results.rates()["trials"][0] == 5


def test_sigint_stops_run_cleanly(tmp_path):
    """A real SIGINT while trials run: KeyboardInterrupt, and every reported trial is in the DB."""
    db = tmp_path / "sigint.db"
    script = textwrap.dedent(f"""
        import sys, flakelab
        def progress(done, total, failures):
            print(done, flush=True)
        try:
            flakelab.run("selftest/noop", trials=100000, params={{"sleep_ms": 20}}, db={str(db)!r},
                         progress=progress)
        except KeyboardInterrupt as e:
            print("interrupted", e.run_id, flush=True)
            sys.exit(130)
        sys.exit(0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    lines = []
    while len(lines) < 5:
        line = proc.stdout.readline()
        assert line, "the run ended before it was interrupted"
        lines.append(line.strip())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    lines += out.split()
    assert proc.returncode == 130
    assert "interrupted" in lines
    done = [int(x) for x in lines[: lines.index("interrupted")]]
    results = flakelab.Results(str(db))
    trials = results.trials()
    assert len(trials) == done[-1] >= 5
    assert set(trials["outcome"]) == {"pass"}
    assert list(trials["index"]) == list(range(len(trials)))


def _make_triage_db(path, tmp_path):
    """Two placements and a delay sweep on this machine, merged with a copy that claims another CPU
    model (as `flakelab merge` of two machines' DBs would give)."""
    pus = flakelab.topology()["pus"]
    cpus = f"victim={pus[0]},injector={pus[0]},writer={pus[-1]}"
    flakelab.run("compel/stack", trials=100, params={"check": "legacy", "adjacent_writer": "on"},
                 cpus=cpus, db=path, seed=11)
    flakelab.run("compel/stack", trials=20, params={"check": "legacy", "adjacent_writer": "on"},
                 db=path, seed=12)
    flakelab.run("selftest/coin", trials=100, params={"p": 0.2}, db=path, seed=13, expect="flaky")
    flakelab.run("selftest/coin", trials=30, params={"p": 0}, db=path, seed=14)
    other = str(tmp_path / "other-machine.db")
    flakelab.run("scm06", trials=3, params={"restore_delay_us": [0, 1000, 20000], "unix_gc_wait": "0"},
                 expect="flaky", db=other, seed=15)
    flakelab.run("selftest/coin", trials=50, params={"p": 0.2}, db=other, seed=16, expect="flaky")
    with sqlite3.connect(other) as db:
        db.execute("UPDATE hosts SET cpu_brand = 'Intel(R) Xeon(R) Platinum 8370C (simulated)', hypervisor = ''")
    flakelab.run("scm06", trials=3, params={"restore_delay_us": [0, 1000, 20000], "unix_gc_wait": "0"},
                 expect="flaky", db=path, seed=17)
    flakelab.merge(path, [other])


def test_notebook_executes_headless(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    assert NOTEBOOK.is_file(), NOTEBOOK
    db = str(tmp_path / "triage.db")
    _make_triage_db(db, tmp_path)
    cells = flakelab.Results(db).cells()
    assert cells["cpu_model"].nunique() == 2 and len(cells) == 11

    monkeypatch.setenv("FLAKELAB_DB", db)
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any error

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # A heatmap per scenario (compel/stack, scm06, selftest/coin), the delay curves, the signatures.
    assert len(images) >= 5
    text = "\n".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "simulated" in text, "both CPU models are named"
    assert "nothing to plot" not in text, "the scm06 sweep is drawn"
