"""The pytest-benchmark JSON layout, so `pytest-benchmark compare` and the
CI tools that read its files work on factorybench runs.

pytest-benchmark knows only durations (lower is better, in seconds). Time
figures are converted to seconds; rates ("GB/s", "calls/s") become seconds
per unit of work (1/rate), keeping "lower is better". Figures that are
neither (ratios, counts) and invalid records are left out and listed under
the top-level "factorybench" key, which pytest-benchmark ignores.
"""
from __future__ import annotations

import json
import platform

from suite import stats

# Seconds per unit of each time unit a record may carry.
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# Version of the pytest-benchmark file layout written here (its JSON format
# has been stable since 3.1, which added "ops").
LAYOUT_VERSION = "4.0.0"
# Its readers take every entry as a real timing: no emulated run.
MEASUREMENTS = True


def _as_seconds(record) -> tuple:
    """(samples in seconds, how they were converted) or (None, reason)."""
    samples = [float(s) for s in record.samples]
    if not samples:
        return None, "no samples"
    if record.unit in TIME_UNITS:
        f = TIME_UNITS[record.unit]
        return [s * f for s in samples], f"{record.unit} -> s"
    if record.unit.endswith("/s"):
        if any(s <= 0 for s in samples):
            return None, "non-positive rate"
        work = record.unit[:-2] or "unit"
        return [1.0 / s for s in samples], f"{record.unit} -> s per {work} (1/rate)"
    return None, f"unit {record.unit!r} is neither a time nor a rate"


def _stats(data: list) -> dict:
    srt = sorted(data)
    q1, q3 = stats.percentile(srt, 25), stats.percentile(srt, 75)
    iqr = q3 - q1
    mean, sd = stats.mean(srt), stats.stdev(srt)
    lo_fence, hi_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = [x for x in srt if lo_fence <= x <= hi_fence] or srt
    iqr_out = sum(1 for x in srt if not lo_fence <= x <= hi_fence)
    sd_out = sum(1 for x in srt if not mean - sd <= x <= mean + sd)
    return {
        "min": srt[0], "max": srt[-1], "mean": mean, "stddev": sd, "rounds": len(srt),
        "median": stats.median(srt), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_out, "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}", "ld15iqr": inside[0], "hd15iqr": inside[-1],
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": sum(srt),
        "data": list(data), "iterations": 1,
    }


def _entry(record, data: list, conversion: str) -> dict:
    ptext = "-".join(f"{k}={v}" for k, v in record.params.items())
    name = f"{record.benchmark}::{record.metric}" + (f"[{ptext}]" if ptext else "")
    return {
        "group": f"{record.benchmark}::{record.metric}",
        "name": name,
        "fullname": f"factorybench/{name}",
        "params": dict(record.params) or None,
        "param": ptext or None,
        "extra_info": {"metric": record.metric, "unit": record.unit, "value": record.value,
                       "higher_is_better": record.higher_is_better,
                       "conversion": conversion, **record.info},
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": len(data),
                    "max_time": 0, "min_time": 0, "warmup": False},
        "stats": _stats(data),
    }


def convert(doc) -> dict:
    benchmarks, skipped = [], []
    for r in doc.results:
        label = f"{r.benchmark} {json.dumps(r.params, sort_keys=True)} {r.metric}"
        if not r.validated or r.value is None:
            skipped.append(f"{label}: not validated")
            continue
        data, how = _as_seconds(r)
        if data is None:
            skipped.append(f"{label}: {how}")
            continue
        benchmarks.append(_entry(r, data, how))
    s, sw = doc.system, doc.system.get("software") or {}
    return {
        "machine_info": {
            "node": s.get("hostname"), "processor": s.get("arch"), "machine": s.get("arch"),
            "python_implementation": "CPython", "python_version": sw.get("python"),
            "python_compiler": "", "release": s.get("kernel"), "system": "Linux",
            "cpu": {"brand_raw": s.get("model_name"), "arch": s.get("arch"),
                    "count": s.get("logical_cpus")},
        },
        "commit_info": {"id": (doc.suite or {}).get("git_commit"), "time": None,
                        "author_time": None, "dirty": False, "project": "factorybench",
                        "branch": None},
        "benchmarks": benchmarks,
        "datetime": doc.run.get("started_at"),
        "version": LAYOUT_VERSION,
        "factorybench": {"run_id": doc.run.get("id"), "python": platform.python_version(),
                         "skipped": skipped},
    }


def render_run(doc) -> str:
    return json.dumps(convert(doc), indent=1, allow_nan=False) + "\n"


def notes(docs) -> list:
    skipped = convert(docs[0])["factorybench"]["skipped"]
    return [f"{len(skipped)} record(s) without a time or rate figure, or not validated, were "
            "left out (listed under the 'factorybench' key)"] if skipped else []
