"""flakelab.run takes what `flakelab run` takes, and a run can be watched while it runs."""
import threading

import pytest

import flakelab


def test_until_failures_timeout_jitter_and_expect(tmp_path):
    db = str(tmp_path / "opts.db")
    run_id = flakelab.run("selftest/coin", trials=50, params={"p": 1}, until_failures=3, timeout=5,
                          expect="flaky", keep_artifacts="never", db=db, seed=2)
    results = flakelab.Results(db)
    runs = results.runs()
    assert list(runs["trials"]) == [3], "stopped after 3 failing trials"
    assert list(runs["expect"]) == ["flaky"]
    line = runs["command_line"][0]
    for option in ["--until-failures=3", "--timeout=5000000000ns", "--expect=flaky", "--keep-artifacts=never"]:
        assert option in line
    assert results.cells()["as_expected"][0]
    assert run_id == runs["run_id"][0]


def test_jitter_is_recorded_with_the_cell(tmp_path):
    db = str(tmp_path / "jitter.db")
    flakelab.run("selftest/noop", trials=3, jitter="200us", db=db)
    cells = flakelab.Results(db).cells()
    assert cells["jitter"][0] == "before_pass:200us"
    with pytest.raises(ValueError, match="no jitter points"):
        flakelab.run("selftest/coin", trials=1, jitter=0.001, db=db)


def test_max_time_bounds_the_run(tmp_path):
    db = str(tmp_path / "max.db")
    flakelab.run("selftest/noop", trials=100000, params={"sleep_ms": 5}, max_time=0.5, db=db)
    runs = flakelab.Results(db).runs()
    assert 0 < runs["trials"][0] < 100000
    assert (runs["ended_at"][0] - runs["started_at"][0]).total_seconds() < 5


def test_cmd_command_and_failure_regexes(tmp_path):
    db = str(tmp_path / "cmd.db")
    flakelab.run(command=["/bin/sh", "-c", "echo boom >&2; exit 1"], trials=2, failure=["boom"], db=db)
    trials = flakelab.Results(db).trials()
    assert set(trials["scenario"]) == {"cmd"}
    assert set(trials["outcome"]) == {"fail"}, "a failure whose message matches --failure is a failure"


def test_bad_options_are_the_clis_errors(tmp_path):
    db = tmp_path / "bad.db"
    with pytest.raises(ValueError, match="expected pass"):
        flakelab.run("selftest/coin", trials=1, expect="sometimes", db=db)
    with pytest.raises(ValueError, match="max-time"):
        flakelab.run("selftest/coin", trials=1, max_time="soon", db=db)
    with pytest.raises(ValueError, match="--spread"):
        flakelab.run("selftest/coin", trials=1, spread=True, db=db)
    with pytest.raises(ValueError):
        flakelab.run("selftest/coin", trials=1, campaign=str(tmp_path / "missing.toml"), db=db)
    with pytest.raises(TypeError, match="timeout"):
        flakelab.run("selftest/coin", trials=1, timeout=[1], db=db)
    with pytest.raises(ValueError, match="status_interval"):
        flakelab.run("selftest/coin", trials=1, status=print, status_interval=0, db=db)
    assert not db.exists()


def test_campaign_file_and_dry_run(tmp_path):
    campaign = tmp_path / "c.toml"
    campaign.write_text('[[run]]\nscenario = "selftest/coin"\ntrials = 4\nparams = { p = ["0", "1"] }\n')
    plan = flakelab.run(campaign=campaign, dry_run=True, db=tmp_path / "c.db")
    assert isinstance(plan, str) and "p=0" in plan and "p=1" in plan
    assert not (tmp_path / "c.db").exists()
    ids = flakelab.run(campaign=campaign, expect="flaky", db=tmp_path / "c.db", seed=3)
    assert len(ids) == 2
    assert list(flakelab.Results(tmp_path / "c.db").runs()["trials"]) == [4, 4]


def test_status_callback_reports_the_whole_run(tmp_path):
    statuses = []
    flakelab.run("selftest/noop", trials=40, params={"sleep_ms": 10}, db=str(tmp_path / "s.db"),
                 status=statuses.append, status_interval=0.1)
    assert len(statuses) >= 2
    keys = {"cells_done", "cells", "done", "total", "failing", "errors", "elapsed_s", "rate_per_s", "eta_s",
            "budget_left_s"}
    assert all(set(s) == keys for s in statuses)
    done = [s["done"] for s in statuses]
    assert done == sorted(done) and all(s["total"] == 40 for s in statuses)
    assert any(s["eta_s"] is not None for s in statuses)


def test_run_iter_yields_status_and_returns_the_ids(tmp_path):
    db = str(tmp_path / "iter.db")
    gen = flakelab.run_iter("selftest/noop", trials=30, params={"sleep_ms": 10}, db=db, status_interval=0.05)
    seen = []
    try:
        while True:
            seen.append(next(gen))
    except StopIteration as stop:
        run_id = stop.value
    assert seen and all(s["total"] == 30 for s in seen)
    assert flakelab.Results(db).run_ids() == [run_id]
    assert len(flakelab.Results(db).trials()) == 30


def test_closing_run_iter_stops_the_run_and_keeps_its_trials(tmp_path):
    db = str(tmp_path / "close.db")
    gen = flakelab.run_iter("selftest/noop", trials=100000, params={"sleep_ms": 5}, db=db, status_interval=0.05)
    next(gen)
    gen.close()
    runs = flakelab.Results(db).runs()
    assert 0 < runs["trials"][0] < 100000
    assert runs["ended_at"].notna().all(), "the run was ended"


def test_watch_follows_a_run_in_progress(tmp_path):
    db = str(tmp_path / "watch.db")
    worker = threading.Thread(target=flakelab.run, args=("selftest/noop",),
                              kwargs={"trials": 60, "params": {"sleep_ms": 10}, "db": db})
    worker.start()
    snapshots = list(flakelab.watch(db, interval=0.1, timeout=60))
    worker.join()
    assert any(s["running"] for s in snapshots), "seen while running"
    last = snapshots[-1]
    assert last["running"] == [] and last["trials"] == 60
    assert int(last["cells"]["trials"].sum()) == 60


def test_an_exception_in_the_status_callback_stops_the_run(tmp_path):
    db = str(tmp_path / "raise.db")

    def status(update):
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough") as info:
        flakelab.run("selftest/noop", trials=100000, params={"sleep_ms": 5}, db=db, status=status,
                     status_interval=0.05)
    runs = flakelab.Results(db).runs()
    assert info.value.run_id == runs["run_id"][0]
    assert 0 < runs["trials"][0] < 100000 and runs["ended_at"].notna().all()


def test_bools_and_timedeltas_become_the_clis_words(tmp_path):
    import datetime

    plan = flakelab.run("compel/stack", params={"adjacent_writer": True, "check": "legacy"},
                        timeout=datetime.timedelta(milliseconds=1500), dry_run=True, db=tmp_path / "x.db")
    assert "adjacent_writer=on" in plan


def test_the_cli_reruns_a_trial_of_a_python_run(tmp_path):
    """The run records the equivalent `flakelab run ...` line, which `flakelab rerun` replays."""
    import os
    import subprocess

    cli = os.environ.get("FLAKELAB_CLI")
    if not cli:
        pytest.skip("FLAKELAB_CLI (the built flakelab binary) is not set; ctest sets it")
    db = str(tmp_path / "rerun.db")
    run_id = flakelab.run("selftest/coin", trials=5, params={"p": 1}, expect="flaky", db=db, seed=9)
    done = subprocess.run([cli, "rerun", str(run_id), "3", "--db", db], capture_output=True, text=True, timeout=120)
    assert "coin: tails" in done.stdout + done.stderr, done.stdout + done.stderr
    runs = flakelab.Results(db).runs()
    assert len(runs) == 2 and list(runs["params"]) == ["p=1", "p=1"]


def test_engine_cli_chooses_the_cli_engine(tmp_path):
    plan = flakelab.run("cr/threads", engine_cli="/bin/true", dry_run=True, db=tmp_path / "e.db")
    assert "engine=cli" in plan and "engine_cli=/bin/true" in plan
    with pytest.raises(ValueError, match="not an executable file"):
        flakelab.run("cr/threads", engine_cli=str(tmp_path / "no-criu"), dry_run=True, db=tmp_path / "e.db")
