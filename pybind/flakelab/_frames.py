"""Tidy pandas DataFrames from the native store's columns.

Every scenario parameter becomes its own column, typed from the scenario's parameter spec
(integer -> Int64, probability -> float64, on/off choice -> boolean, duration -> timedelta64,
other choices and strings -> str); epoch-millisecond times become UTC datetimes.
"""
import re

from . import _native

# A parameter named like one of these fixed columns gets a "param_" prefix.
RESERVED = {
    "run_id", "run_uid", "index", "scenario", "placement", "params", "cpu_model", "expect", "engine",
    "outcome", "hostname", "hypervisor", "vcpus", "seed", "trials", "rate", "cell",
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_NS_PER_UNIT = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}

_kinds_cache = None


def param_kinds():
    """{scenario: {param: kind}} from the built-in catalog (kind: integer, float, bool,
    duration, choice, string)."""
    global _kinds_cache
    if _kinds_cache is None:
        _kinds_cache = {s["name"]: {p["name"]: p["kind"] for p in s["params"]} for s in _native.scenarios()}
    return _kinds_cache


def split_params(text, names):
    """{name: value} of a canonical "k=v,k=v" params text. A piece whose key is not a known
    parameter (in `names`, or "jitter") continues the previous value: values may hold commas
    (a cmd's command, a jitter list)."""
    out = {}
    last = None
    for piece in text.split(",") if text else []:
        key, sep, value = piece.partition("=")
        if sep and (key in names or key == "jitter") and key not in out:
            out[key] = value
            last = key
        elif last is not None:
            out[last] += "," + piece
        else:
            out[key] = value if sep else ""
            last = key
    return out


def duration_ns(text):
    """Nanoseconds of a duration in flakelab's grammar ("500us", "2s", "0"), or None."""
    if text == "0":
        return 0
    match = _DURATION.match(text or "")
    if not match:
        return None
    return round(float(match.group(1)) * _NS_PER_UNIT[match.group(2)])


def _typed(values, kind):
    import pandas as pd

    if kind == "integer":
        return pd.array([None if v is None else int(v) for v in values], dtype="Int64")
    if kind == "float":
        return pd.array([float("nan") if v is None else float(v) for v in values], dtype="float64")
    if kind == "bool":
        return pd.array([None if v is None else v == "on" for v in values], dtype="boolean")
    if kind == "duration":
        return pd.to_timedelta([None if v is None else duration_ns(v) for v in values], unit="ns")
    return pd.array(values, dtype="object")


def _column_kind(kinds_seen):
    kinds = {k for k in kinds_seen if k is not None}
    return kinds.pop() if len(kinds) == 1 else "string"


def add_param_columns(frame, scenario_column="scenario", params_column="params"):
    """`frame` with one typed column per parameter found in its params texts, and an
    `engine` column: "flakelab" for the built-in engine, the engine_cli command for a
    CRIU-compatible CLI, "" for scenarios without a checkpoint."""
    catalog = param_kinds()
    parsed = []
    names = []
    kinds = {}
    for scenario, text in zip(frame[scenario_column], frame[params_column]):
        spec = catalog.get(scenario, {})
        values = split_params(text, spec)
        parsed.append(values)
        for name in values:
            if name not in kinds:
                names.append(name)
                kinds[name] = []
            kinds[name].append("string" if name == "jitter" else spec.get(name))
    engines = []
    for values in parsed:
        engine = values.get("engine")
        engines.append("" if engine is None else values.get("engine_cli", "") if engine == "cli" else "flakelab")
    frame = frame.assign(engine=engines)
    columns = {}
    for name in names:
        values = [p.get(name) for p in parsed]
        column = f"param_{name}" if name in RESERVED or name in frame.columns else name
        kind = _column_kind(kinds[name])
        try:
            columns[column] = _typed(values, kind)
        except (TypeError, ValueError):  # a value its spec would refuse (an older catalog)
            columns[column] = _typed(values, "string")
    if columns:
        import pandas as pd

        frame = pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)
    return frame


def to_datetime(frame, **renames):
    """Replaces epoch-ms columns with UTC datetimes: to_datetime(f, started_at_ms="started_at")."""
    import pandas as pd

    for old, new in renames.items():
        at = frame.columns.get_loc(old)
        values = pd.to_datetime(pd.to_numeric(frame[old]), unit="ms", utc=True)
        frame = frame.drop(columns=[old])
        frame.insert(at, new, values)
    return frame


def frame(columns):
    """A DataFrame from the native columns dict (column order kept, even with no rows)."""
    import pandas as pd

    return pd.DataFrame(columns, columns=list(columns))
