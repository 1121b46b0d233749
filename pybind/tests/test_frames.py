"""Tidy DataFrames: one row per cell/run/trial, each parameter its own typed column, times as
datetimes, expectation, machine and engine columns."""
import pandas as pd
import pytest

import flakelab
from flakelab import _frames


@pytest.fixture(scope="module")
def grid_db(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("frames") / "grid.db")
    # A grid over p: two cells of one run invocation; expected flaky.
    ids = flakelab.run("selftest/coin", trials=12, params={"p": [0, 1]}, expect="flaky", db=db, seed=5)
    return db, ids


def test_grid_gives_one_run_per_value(grid_db):
    db, ids = grid_db
    assert isinstance(ids, list) and len(ids) == 2
    runs = flakelab.Results(db).runs()
    assert sorted(runs["run_id"]) == sorted(ids)
    assert sorted(runs["p"]) == [0.0, 1.0]
    assert runs["invocation"].nunique() == 1


def test_cells_have_typed_params_expect_and_machine(grid_db):
    db, _ = grid_db
    cells = flakelab.Results(db).cells()
    assert len(cells) == 2
    assert cells["p"].dtype == "float64"
    assert set(cells["expect"]) == {"flaky"}
    cpu = flakelab.cpu()
    assert set(cells["hypervisor"]) == {cpu["hypervisor"]}
    assert set(cells["hosts"]) == {1}
    assert set(cells["engine"]) == {""}  # the coin has no checkpoint engine
    by_p = cells.set_index("p")
    assert by_p.loc[1.0, "rate"] == 1.0 and by_p.loc[0.0, "rate"] == 0.0
    assert by_p.loc[1.0, "verdict"] == "flaky_expected" and by_p.loc[1.0, "as_expected"]
    # rates() is the compact view of the same cells.
    assert list(flakelab.Results(db).rates().columns) == flakelab.RATE_COLUMNS


def test_every_trial_has_its_finish_time_and_run_context(grid_db):
    db, ids = grid_db
    results = flakelab.Results(db)
    trials = results.trials()
    runs = results.runs().set_index("run_id")
    assert len(trials) == 24
    assert str(trials["finished_at"].dtype) == "datetime64[ns, UTC]"
    assert trials["finished_at"].notna().all(), "passes too"
    for row in trials.itertuples():
        run = runs.loc[row.run_id]
        assert run.started_at <= row.finished_at <= run.ended_at
    assert (trials.groupby("run_id")["finished_at"].apply(lambda t: t.is_monotonic_increasing)).all()
    cpu = flakelab.cpu()
    assert set(trials["hostname"]) == {cpu["hostname"]}
    assert set(trials["hypervisor"]) == {cpu["hypervisor"]}
    assert set(trials["vcpus"]) == {cpu["logical_cpus"]}
    assert set(trials["expect"]) == {"flaky"}
    assert set(trials.loc[trials["p"] == 1.0, "outcome"]) == {"fail"}


def test_runs_frame(grid_db):
    db, ids = grid_db
    runs = flakelab.Results(db).runs()
    assert str(runs["started_at"].dtype) == "datetime64[ns, UTC]"
    assert str(runs["ended_at"].dtype) == "datetime64[ns, UTC]"
    assert (runs["seed"] == 5).all()
    assert all(line.startswith("flakelab run selftest/coin") for line in runs["command_line"])
    assert list(runs["trials"]) == [12, 12] and list(runs["planned_trials"]) == [12, 12]
    assert set(runs["cpu_model"]) == {flakelab.cpu()["brand"]}


def test_param_kinds_make_typed_columns():
    frame = pd.DataFrame({
        "scenario": ["compel/stack", "scm06", "scm06", "cmd"],
        "params": ["adjacent_writer=on,check=legacy,rpc_rounds=3",
                   "engine=library,engine_cli=,engine_version=,restore_delay_us=500,unix_gc_wait=50ms",
                   "engine=cli,engine_cli=/usr/sbin/criu,engine_version=,restore_delay_us=0,unix_gc_wait=0,"
                   "jitter=dump:5us,restore:1ms",
                   "command=/bin/sh -c 'a,b=c',spread=off"],
    })
    typed = _frames.add_param_columns(frame)
    assert str(typed["adjacent_writer"].dtype) == "boolean" and typed["adjacent_writer"][0]
    assert pd.isna(typed["adjacent_writer"][1])
    assert str(typed["rpc_rounds"].dtype) == "Int64" and typed["rpc_rounds"][0] == 3
    assert str(typed["restore_delay_us"].dtype) == "Int64" and list(typed["restore_delay_us"][1:3]) == [500, 0]
    assert str(typed["unix_gc_wait"].dtype) == "timedelta64[ns]"
    assert typed["unix_gc_wait"][1] == pd.Timedelta(milliseconds=50) and typed["unix_gc_wait"][2] == pd.Timedelta(0)
    assert typed["check"][0] == "legacy"
    assert typed["jitter"][2] == "dump:5us,restore:1ms", "a value with commas stays whole"
    assert typed["command"][3] == "/bin/sh -c 'a,b=c'"
    assert typed["spread"][3] is False or typed["spread"][3] == False  # noqa: E712 (pandas boolean)
    # engine: the built-in engine, a CRIU-compatible CLI, or none; the param itself is param_engine.
    assert list(typed["engine"]) == ["", "flakelab", "/usr/sbin/criu", ""]
    assert list(typed["param_engine"][1:3]) == ["library", "cli"]


def test_durations_in_flakelabs_grammar():
    assert _frames.duration_ns("0") == 0
    assert _frames.duration_ns("500us") == 500_000
    assert _frames.duration_ns("2.5m") == 150 * 10**9
    assert _frames.duration_ns("5") is None


def test_skipped_cells_are_listed(tmp_path):
    topo = flakelab.topology()
    if topo["smt"]:
        pytest.skip("this machine has SMT: smt-siblings is offered, nothing is skipped")
    db = str(tmp_path / "skip.db")
    flakelab.run("selftest/coin", trials=2, params={"p": 0}, placement="all", db=db)
    skipped = flakelab.Results(db).skipped()
    assert "smt-siblings" in list(skipped["placement"])
    reason = skipped.set_index("placement").loc["smt-siblings", "reason"]
    assert "SMT" in reason
    assert str(skipped["recorded_at"].dtype) == "datetime64[ns, UTC]"
    assert skipped["p"][0] == 0.0
