"""Runs the selected benchmarks, one child process per configuration.

The parent plans configurations, starts each in a fresh interpreter
(`suite.worker`) with its own environment and affinity, enforces the
timeout on the whole process group, turns crashes, hangs and OOM kills into
that configuration's ErrorRecord, and rewrites the result file after every
configuration so that nothing finished is ever lost.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from suite import __version__
from suite.atomicfile import disk_full, is_disk_full
from suite.errors import DiskFull, Skipped, UserError
from suite.guardian import RunDirectory
from suite.model import ErrorRecord, Outcome
from suite.options import BenchmarkOptions
from suite.results import SCHEMA_VERSION, DocumentEncoder, RunDocument, write_atomic
from suite.spec import BenchmarkSpec, Config, Job, PlanContext, Profile, timeout_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Signals that end a run as Ctrl-C does: the result file is finished as `partial`.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RunOptions:
    profile: Profile
    out_path: Path
    threads: tuple | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None  # overrides every spec's timeout
    benchmark: BenchmarkOptions = field(default_factory=BenchmarkOptions)
    argv: tuple = ()
    run_id: str = field(default_factory=new_run_id)


@dataclass(frozen=True)
class PlannedConfig:
    """One child: a configuration of one spec, or of several specs of one
    group that share it (the child measures them all)."""

    specs: tuple
    config: Config

    @property
    def spec(self) -> BenchmarkSpec:
        return self.specs[0]

    @property
    def ids(self) -> tuple:
        return tuple(s.id for s in self.specs)

    @property
    def name(self) -> str:
        """The spec's id, or its group's name when the child measures several."""
        return self.spec.id if len(self.specs) == 1 else self.spec.group or self.config.share

    @property
    def label(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.config.params.items())
        return f"{self.name} {params}".strip()

    def timeout(self, profile: str) -> float:
        """Seconds the child may take: its spec's timeout, or, for specs
        sharing a child by Config.share, the sum of theirs (each would
        have had a child and a timeout of its own; a group's specs are
        made as one child with one timeout)."""
        if self.spec.group is None and len(self.specs) > 1:
            return sum(timeout_for(s, profile) for s in self.specs)
        return timeout_for(self.spec, profile)

    def errors(self, kind: str, message: str) -> tuple:
        """The same error for every benchmark this child measures."""
        return tuple(ErrorRecord(i, dict(self.config.params), kind, message) for i in self.ids)


class Progress:
    """Progress callbacks; the CLI supplies a rich-based one."""

    def start(self, total: int) -> None: ...
    def begin(self, index: int, item: PlannedConfig) -> None: ...
    def end(self, index: int, item: PlannedConfig, outcome: Outcome, seconds: float) -> None: ...
    def stop(self) -> None: ...


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# A copy without .git (a fleet host's) names the commit it was made from here.
COMMIT_FILE = ".git-commit"


def git_commit() -> str | None:
    if not (PROJECT_ROOT / ".git").exists():
        try:
            return (PROJECT_ROOT / COMMIT_FILE).read_text().strip() or None
        except OSError:
            return None
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def default_result_path(out_dir: Path, profile: str, run_id: str,
                        now: datetime | None = None, machine: str | None = None) -> Path:
    """`<UTC timestamp>-<machine>-<run id, 8 hex>-<profile>.json`, the machine
    being --machine or the hostname: the run id keeps two runs started in the
    same second apart."""
    now = now or datetime.now(timezone.utc)
    host = machine or socket.gethostname().split(".")[0] or "host"
    return out_dir / f"{now.strftime('%Y%m%dT%H%M%SZ')}-{host}-{run_id[:8]}-{profile}.json"


def new_document(opts: RunOptions, system: Mapping[str, Any]) -> RunDocument:
    return RunDocument(
        schema_version=SCHEMA_VERSION,
        suite={"name": "factorybench", "version": __version__, "git_commit": git_commit()},
        run={
            "id": opts.run_id,
            "started_at": utc_now(),
            "finished_at": None,
            "status": "partial",
            "profile": opts.profile.name,
            "argv": list(opts.argv),
            "tags": dict(opts.tags),
            "options": opts.benchmark.to_dict(),
            "threads": list(opts.threads) if opts.threads else None,
        },
        system=dict(system),
        warnings=tuple(system.get("warnings") or ()),
    )


def plan(specs: Sequence[BenchmarkSpec], ctx: PlanContext) -> tuple:
    """Every configuration to run, plus errors of specs that could not plan."""
    planned, errors = [], []
    for spec in specs:
        try:
            configs = list(spec.plan(ctx))
        except UserError:
            raise  # bad input (e.g. --array-mib beyond memory): exit 2 before running
        except Exception as exc:  # a spec that cannot plan here is its own error
            errors.append(ErrorRecord(spec.id, {}, "skipped" if isinstance(exc, Skipped)
                                      else "error", f"planning failed: {exc}"))
            continue
        planned.extend(PlannedConfig((spec,), c) for c in configs)
    return _share_children(planned), errors


def _share_children(planned: list) -> list:
    """Merge configurations of one group (BenchmarkSpec.group, else
    Config.share) with equal params and one entry into one child, at the
    position of the first."""
    out: list = []
    index: dict = {}
    for item in planned:
        group = item.spec.group or item.config.share
        if group is None:
            out.append(item)
            continue
        key = (group, item.spec.entry, json.dumps(item.config.params, sort_keys=True))
        if key in index:
            i = index[key]
            out[i] = replace(out[i], specs=out[i].specs + item.specs)
        else:
            index[key] = len(out)
            out.append(item)
    return out


# -- one child -------------------------------------------------------------

def _child_env(config: Config) -> dict:
    env = dict(os.environ)
    env["FACTORYBENCH_PARENT_PID"] = str(os.getpid())  # see suite.worker.die_with_parent
    env.setdefault("NUMBA_CACHE_DIR", str(PROJECT_ROOT / ".cache" / "numba"))
    if "PYTHONPYCACHEPREFIX" not in env:
        # Bytecode compiled once into the project's cache (none beside the
        # sources), not again in every child: 50-80 ms of each one's start.
        env["PYTHONPYCACHEPREFIX"] = str(PROJECT_ROOT / ".cache" / "pycache")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    # The child must import this checkout even when not installed.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env.update({k: str(v) for k, v in config.env.items()})
    return env


def _exit_errors(item: PlannedConfig, returncode: int, stderr_tail: str) -> tuple:
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGKILL:
            return item.errors("oom", "killed by SIGKILL (most likely the out-of-memory killer)")
        return item.errors("crash", f"killed by {sig.name}: {stderr_tail}")
    return item.errors("crash", f"worker exited with status {returncode}: {stderr_tail}")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _wait(proc: subprocess.Popen, timeout: float, cpus: tuple | None) -> tuple:
    """(timed out?, observer readings) once the worker ends or its time is up."""
    observers = _observers(proc.pid, cpus)
    timed_out = False
    try:
        for _, o in observers:  # inside: whatever started is stopped (_stop)
            o.start()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        readings = {name: _stop(o) for name, o in observers}
    return timed_out, readings


def _stderr_tail(path: Path, limit: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [l for l in text.splitlines() if l.strip()]
    return (lines[-1] if lines else "")[-limit:]


def _observers(pid: int, cpus: tuple | None):
    """Utilization monitor (kept off the measured CPUs) and energy meter."""
    from suite.energy import EnergyMeter
    from suite.monitor import UtilizationMonitor

    return [("utilization", UtilizationMonitor(pid=pid, interval_s=0.1, exclude_cpus=cpus)),
            ("energy", EnergyMeter(root="/"))]


def run_config(item: PlannedConfig, opts: RunOptions, system: Mapping[str, Any],
               run_dir: RunDirectory | None = None) -> Outcome:
    """Run one configuration in a fresh interpreter; never raises for its failures.

    Its job files live in `run_dir` (a RunDirectory of its own when None), and
    the worker's process group is handed to the run's guardian while it runs.
    """
    if run_dir is None:
        with RunDirectory() as own:
            return run_config(item, opts, system, own)
    timeout = opts.timeout or item.timeout(opts.profile.name)
    job = Job(benchmark=item.spec.id, params=dict(item.config.params), profile=opts.profile,
              system=system, options=opts.benchmark, timeout=timeout,
              cpus=item.config.cpus, settings=dict(item.config.settings), benchmarks=item.ids)
    with tempfile.TemporaryDirectory(prefix="job-", dir=run_dir.path) as tmp:
        job_path, outcome_path, err_path = (Path(tmp) / n for n in
                                            ("job.json", "outcome.json", "stderr.txt"))
        try:
            job_path.write_text(json.dumps({"entry": item.spec.entry, "job": job.to_dict()}))
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(job_path) from None
            raise
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "suite.worker", str(job_path), str(outcome_path)],
                env=_child_env(item.config), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, cwd=str(PROJECT_ROOT),
                start_new_session=True)  # own group: timeout kills every descendant
        run_dir.watch(proc.pid)
        try:
            timed_out, readings = _wait(proc, timeout, item.config.cpus)
        finally:
            # Ctrl-C, a timeout or a normal end: no descendant a benchmark left
            # behind outlives its configuration.
            _kill_group(proc)
            run_dir.forget(proc.pid)
        if timed_out:
            return Outcome(errors=item.errors("timeout", f"no result after {timeout:g} s; "
                                                        "process group killed"))
        if proc.returncode != 0 or not outcome_path.exists():
            return Outcome(errors=_exit_errors(item, proc.returncode, _stderr_tail(err_path)))
        outcome = Outcome.from_dict(json.loads(outcome_path.read_text()))
    return _annotate(outcome, readings)


def run_replicated(item: PlannedConfig, opts: RunOptions, system: Mapping[str, Any],
                   run_dir: RunDirectory | None = None) -> Outcome:
    """The configuration in `profile.processes` fresh processes, merged
    (suite.replication). A process that timed out stops the repetition:
    the next would most likely time out too."""
    from suite.replication import merge_outcomes

    outcomes = []
    for _ in range(max(1, opts.profile.processes)):
        outcomes.append(run_config(item, opts, system, run_dir))
        if any(e.kind in ("timeout", "oom") for e in outcomes[-1].errors):
            break
    return merge_outcomes(outcomes)


def _stop(observer) -> dict:
    try:
        return observer.stop()
    except Exception as exc:  # an observer must never sink a measurement
        return {"available": False, "reason": f"observer failed: {exc}"}


def _annotate(outcome: Outcome, readings: Mapping[str, dict]) -> Outcome:
    """Attach the observers' readings to each record, and add work per joule."""
    if not readings:
        return outcome
    readings, marks = _interference_marks(readings)
    records = tuple(replace(r, info={**r.info, **{k: v for k, v in readings.items()
                                                  if k not in r.info}, **marks})
                    for r in outcome.records)
    if readings.get("energy", {}).get("available"):
        from suite.energy import work_per_joule

        records += tuple(work_per_joule(records, readings["energy"]))
    return replace(outcome, records=records)


def _interference_marks(readings: Mapping[str, dict]) -> tuple:
    """(readings, info keys): the utilization monitor's interference figure
    becomes each record's info.interference, and info.disturbed (the reason,
    with the figure) when it crossed the threshold."""
    utilization = readings.get("utilization")
    if not isinstance(utilization, Mapping) or "interference" not in utilization:
        return readings, {}
    figure = utilization["interference"]
    readings = {**readings, "utilization": {k: v for k, v in utilization.items()
                                            if k != "interference"}}
    marks = {"interference": figure}
    if figure.get("disturbed"):
        marks["disturbed"] = figure["disturbed"]
    return readings, marks


def _summarize(spec: BenchmarkSpec, doc: RunDocument, ctx: PlanContext) -> Outcome:
    from suite.worker import load_entry

    mine = [r for r in doc.results if r.benchmark == spec.id
            or r.benchmark.startswith(spec.id + ".")]
    try:
        out = load_entry(spec.summarize)(mine, ctx)
    except Exception as exc:
        return Outcome(errors=(ErrorRecord(spec.id, {}, "error", f"summary failed: {exc}"),))
    out = Outcome(records=tuple(out)) if isinstance(out, (list, tuple)) else out
    # Summaries derive from other records; their samples are not repeated
    # trials, so compare must not run a significance test on them.
    return replace(out, records=tuple(replace(r, info={**r.info, "derived": True})
                                      for r in out.records))


# -- the whole run ---------------------------------------------------------

class ResultWriter:
    """Saves the run's document: the first write claims the file name
    exclusively, every later one replaces the file whole. A full disk stops
    the run with the last good file left as it was."""

    def __init__(self, path: Path, on_write: Callable[[RunDocument], None] | None = None):
        self.path, self.on_write, self.saved = path, on_write, None
        self.encoder = DocumentEncoder()

    def save(self, doc: RunDocument) -> RunDocument:
        try:
            write_atomic(self.path, doc, exclusive=self.saved is None, encoder=self.encoder)
        except FileExistsError:
            raise UserError(f"--out: {self.path} already exists; a result file is never "
                            "overwritten") from None
        self.saved = doc
        if self.on_write:
            self.on_write(doc)
        return doc

    def kept(self) -> str:
        """What the result file holds, for a message when the run stops."""
        if self.saved is None:
            return "nothing was run"
        done = len(self.saved.run.get("configs", []))
        return f"{self.path} keeps the {done} configuration(s) finished before"


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM/SIGHUP while a finished configuration is recorded
    and saved: a stop then lands before or after it, never loses it."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def execute(specs: Sequence[BenchmarkSpec], opts: RunOptions, system: Mapping[str, Any],
            progress: Progress | None = None,
            on_write: Callable[[RunDocument], None] | None = None) -> RunDocument:
    """Run everything; the result file is rewritten after each configuration.

    KeyboardInterrupt leaves a `partial` file and propagates; DiskFull
    leaves the last file that could be written. Workers and job files never
    outlive the run (suite.guardian), whatever ends it.
    """
    progress = progress or Progress()
    ctx = PlanContext(profile=opts.profile, system=system, options=opts.benchmark,
                      threads=opts.threads)
    doc = new_document(opts, system)
    planned, plan_errors = plan(specs, ctx)
    doc = doc.adding(errors=plan_errors)
    writer = ResultWriter(opts.out_path, on_write)
    try:
        with RunDirectory() as run_dir:
            run_dir.output(opts.out_path)
            doc = _run_all(planned, specs, doc,
                           _Run(opts, system, ctx, run_dir, writer, progress))
            if opts.benchmark.cost_per_hour:
                from suite.cost import cost_per_unit

                doc = doc.adding(cost_per_unit(doc.results, opts.benchmark.cost_per_hour))
            status = "complete" if doc.results or not doc.errors else "failed"
            with signals_deferred():
                return writer.save(doc.with_run(finished_at=utc_now(), status=status))
    except DiskFull as exc:  # the result file's disk, or the temp dir's
        raise DiskFull(f"{exc}; {writer.kept()}") from None


@dataclass(frozen=True)
class _Run:
    """What every configuration of one run shares."""

    opts: RunOptions
    system: Mapping[str, Any]
    ctx: PlanContext
    run_dir: RunDirectory
    writer: ResultWriter
    progress: Progress


def _run_all(planned: Sequence[PlannedConfig], specs: Sequence[BenchmarkSpec],
             doc: RunDocument, run: _Run) -> RunDocument:
    """Every planned configuration, saving after each; a stop saves `partial`."""
    remaining = {s.id: sum(1 for p in planned if s in p.specs) for s in specs}
    try:
        doc = run.writer.save(doc)
        run.progress.start(len(planned))
        for i, item in enumerate(planned):
            run.progress.begin(i, item)
            t0 = time.monotonic()
            outcome = run_replicated(item, run.opts, run.system, run.run_dir)
            with signals_deferred():
                seconds = time.monotonic() - t0
                run.progress.end(i, item, outcome, seconds)
                doc = _record(doc, item, outcome, seconds)
                for spec in item.specs:
                    remaining[spec.id] -= 1
                    if remaining[spec.id] == 0 and spec.summarize:
                        s = _summarize(spec, doc, run.ctx)
                        doc = doc.adding(s.records, s.errors, s.warnings)
                doc = run.writer.save(doc)
    except KeyboardInterrupt:
        with signals_deferred():
            run.writer.save(doc.with_run(finished_at=utc_now(), status="partial",
                                         interrupted=True))
        raise
    finally:
        run.progress.stop()
    return doc


def _record(doc: RunDocument, item: PlannedConfig, outcome: Outcome,
            seconds: float) -> RunDocument:
    doc = doc.adding(outcome.records, outcome.errors, outcome.warnings)
    # Wall time per configuration, child start-up included: where a run's
    # time went, for budgets and for reproducing it.
    return doc.with_run(configs=[*doc.run.get("configs", []), {
        "benchmark": item.name, "params": dict(item.config.params),
        "seconds": round(seconds, 3),
        "status": "ok" if not outcome.errors else outcome.errors[0].kind}])
