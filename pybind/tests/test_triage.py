"""report, compare, gate and merge from Python: the CLI verbs' text, and data."""
import json
import xml.etree.ElementTree as ET

import pytest

import flakelab


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage")
    good, bad = str(root / "good.db"), str(root / "bad.db")
    good_run = flakelab.run("selftest/coin", trials=20, params={"p": 0}, db=good, seed=1)
    bad_run = flakelab.run("selftest/coin", trials=20, params={"p": 1}, db=bad, seed=2)  # must pass: fails
    return root, good, bad, good_run, bad_run


def test_report_formats(dbs):
    _, good, bad, _, bad_run = dbs
    text = flakelab.report(bad)
    assert "selftest/coin" in text and "UNEXPECTED" in text
    data = flakelab.report_data(bad)
    assert data["schema"] == "flakelab-report/1"
    assert data["cells"][0]["failing"] == 20 and not data["cells"][0]["as_expected"]
    assert json.loads(flakelab.report(bad, "json", run=bad_run))["cells"] == data["cells"]
    ET.fromstring(flakelab.report(good, "junit"))  # well-formed XML
    assert flakelab.report(good, "html").lstrip().lower().startswith("<!doctype html")
    assert "| scenario |" in flakelab.Results(good).report("markdown")


def test_report_errors(dbs):
    root, good, _, _, _ = dbs
    with pytest.raises(FileNotFoundError, match="no results database"):
        flakelab.report(str(root / "missing.db"))
    assert not (root / "missing.db").exists()
    with pytest.raises(ValueError, match="unknown report format"):
        flakelab.report(good, "pdf")
    with pytest.raises(ValueError, match="no run 999"):
        flakelab.report(good, run=999)
    with pytest.raises(ValueError, match="since"):
        flakelab.report(good, since="yesterday")


def test_gate(dbs):
    _, good, bad, _, _ = dbs
    passed = flakelab.gate(good)
    assert passed["passed"] and passed["problems"] == [] and passed["text"]
    failed = flakelab.gate(bad, baseline=good)
    assert not failed["passed"]
    assert any("selftest/coin" in p for p in failed["problems"])
    with pytest.raises(ValueError):
        flakelab.gate(good, alpha=2)


def test_compare_across_databases(dbs):
    _, good, bad, good_run, bad_run = dbs
    text = flakelab.compare(good_run, bad_run, db=good, db_b=bad)
    assert "Fisher" in text and "0/20" in text and "20/20" in text


def test_merge(dbs):
    root, good, bad, _, _ = dbs
    out = str(root / "merged.db")
    stats = flakelab.merge(out, [good, bad])
    assert stats["inputs"] == 2 and stats["runs_added"] == 2 and stats["trials_added"] == 40
    assert stats["shards_complete"]
    again = flakelab.merge(out, [good])
    assert again["runs_added"] == 0 and again["runs_already_present"] == 1
    merged = flakelab.Results(out)
    assert len(merged.trials()) == 40 and merged.trials()["finished_at"].notna().all()
    with pytest.raises(FileNotFoundError):
        flakelab.merge(out, [str(root / "nope.db")])
