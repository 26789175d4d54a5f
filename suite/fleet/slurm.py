"""The Slurm backend: one exclusive batch job per node.

On an HPC cluster the compute nodes are reached through the scheduler, not
SSH. One generated batch script (`<shared>/job.sh`, kept for the record) is
submitted once per node with `sbatch --exclusive --nodes=1 --nodelist=NODE`:
the job runs the selection with the project and interpreter the submitting
host uses (a cluster shares them), under the node's lock, and writes its
result, log, status and exit status into `<shared>/<node>/`, a directory
every node sees. Progress comes from `squeue` (pending reason, running,
completing) and the run's status file; once a job has left the queue its
result is copied to `<out>/<node>.json`.
"""
from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from suite.atomicfile import write_atomic
from suite.errors import UserError
from suite.fleet.base import (FAILED, FETCHING, LOCKED, OK, RUNNING, UNREACHABLE, WAITING,
                              Backend, FleetJob, HostOutcome, Watcher)
from suite.fleet.inventory import DEFAULT_LOCK
from suite.machine import check_name

POLL_S = 2.0  # seconds between squeue polls
LOCK_BUSY_RC = 75  # flock -E: the lock stayed held for the whole wait
# A run that outlives its time limit by this much more is given up on.
GRACE_S = 120.0
# Node states (sinfo %T, without the trailing * of a node not responding)
# where a job would never start.
DEAD_STATES = ("down", "drained", "draining", "fail", "failing", "future", "inval",
               "maint", "power_down", "powered_down", "reboot_issued")
# Pending reasons that say the same once the job is queued.
DEAD_REASONS = ("ReqNodeNotAvail", "NodeDown", "PartitionDown", "PartitionInactive",
                "PartitionNodeLimit", "BadConstraints")
# squeue states of a job that has ended.
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
         "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def slurm_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UserError(f"fleet slurm: {name} not found; it runs where the Slurm client "
                        "commands (sbatch, squeue, sinfo) are on PATH")
    return found


def _slurm(args: Sequence[str], env: dict | None = None, check: bool = True) -> str:
    """A Slurm client command's output; its one-line error as a UserError when it fails."""
    try:
        proc = subprocess.run([slurm_tool(args[0]), *args[1:]], capture_output=True, text=True,
                              env=env, timeout=60)
    except subprocess.TimeoutExpired:
        raise UserError(f"fleet slurm: {args[0]} did not answer within 60 s") from None
    if check and proc.returncode != 0:
        raise UserError(f"fleet slurm: {' '.join(args[:3])} failed: {_last_line(proc.stderr)}")
    return proc.stdout


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def batch_script(job: FleetJob, shared: Path, python: str, lock: str) -> str:
    """The job every node runs; its one argument is the node's name, which
    becomes the machine's name in results and history."""
    argv = ["run", *job.selection, "--profile", job.profile, "--out", "$work/out",
            "--machine", "$node", "--status-file", "$work/status"]
    run = " ".join(shlex.quote(a) if not a.startswith("$") else f'"{a}"' for a in argv)
    return f"""#!/bin/sh
# factorybench fleet slurm {job.run_id}: one node's run. Submitted once per node:
#   sbatch --exclusive --nodes=1 --nodelist=NODE {shared}/job.sh NODE
node="$1"
work={shlex.quote(str(shared))}/"$node"
mkdir -p "$work/out" || exit 1
cd {shlex.quote(str(PROJECT_ROOT))} || exit 1
export PYTHONDONTWRITEBYTECODE=1 NUMBA_CACHE_DIR="$PWD/.cache/numba-$node"
echo "waiting for the lock {lock}" >"$work/status"
flock -w {int(job.lock_wait_s)} -E {LOCK_BUSY_RC} {shlex.quote(lock)} \\
    {shlex.quote(python)} -m suite {run} >"$work/log" 2>&1 </dev/null
rc=$?
echo "$rc" >"$work/rc.tmp" && mv "$work/rc.tmp" "$work/rc"
exit "$rc"
"""


def expand_nodes(spec: str, env: dict | None = None) -> list:
    """A Slurm host list (bench[1-2],gpu7) as names, in order, once each."""
    try:
        names = _slurm(["scontrol", "show", "hostnames", spec], env).split()
    except UserError:
        names = []
    if not names:
        raise UserError(f"--nodes: {spec!r} names no node; accepted: a Slurm host list "
                        "such as node[1-4],gpu7")
    return list(dict.fromkeys(names))


def partition_nodes(partition: str | None, env: dict | None = None) -> list:
    args = ["sinfo", "-h", "-N", "-o", "%N"] + (["-p", partition] if partition else [])
    names = list(dict.fromkeys(_slurm(args, env).split()))
    if not names:
        what = f"--partition: {partition!r} has" if partition else "fleet slurm: the cluster has"
        raise UserError(f"{what} no nodes; accepted: a partition `sinfo -s` lists")
    return names


class SlurmBackend(Backend):
    name = "slurm"

    def __init__(self, nodes: str | None = None, partition: str | None = None,
                 shared_dir: Path | None = None, python: str | None = None,
                 lock: str = DEFAULT_LOCK, sbatch_args: Sequence[str] = (),
                 env: dict | None = None, poll_s: float = POLL_S):
        self.env = env
        self.partition = partition
        known = partition_nodes(partition, env)
        names = expand_nodes(nodes, env) if nodes else known
        unknown = [n for n in names if n not in known]
        if unknown:
            where = f"partition {partition!r}" if partition else "the cluster"
            raise UserError(f"--nodes: no node {unknown[0]!r} in {where}; accepted: "
                            f"{', '.join(known[:8])}{' ...' if len(known) > 8 else ''}")
        self.nodes = [check_name(n, "--nodes") for n in names]
        self.shared_dir = shared_dir and _writable(shared_dir)
        self.python = python or sys.executable
        self.lock = lock
        self.sbatch_args = tuple(sbatch_args)
        self.poll_s = poll_s

    def hosts(self):
        return [(n, n) for n in self.nodes]

    # -- submit ----------------------------------------------------------------

    def _dead(self) -> dict:
        """{node: why} for the nodes where a job would never start."""
        out = _slurm(["sinfo", "-h", "-N", "-n", ",".join(self.nodes), "-o", "%N|%T|%E"],
                     self.env)
        dead = {}
        for line in out.splitlines():
            name, raw, reason = (line.split("|", 2) + ["", ""])[:3]
            state = raw.strip().rstrip("*~#!%$@^-").lower()
            silent = raw.strip().endswith("*")  # sinfo's mark of a node not responding
            if name in self.nodes and (state in DEAD_STATES or silent):
                why = f"node {state}" + (" and not responding" if silent else "")
                dead[name] = why + ("" if reason.strip() in ("", "none") else f": {reason.strip()}")
        return dead

    def _submit(self, job: FleetJob, script: Path, node: str, shared: Path) -> tuple:
        """(job id, None) or (None, the one-line reason it was refused)."""
        limit = math.ceil((job.timeout_s + job.lock_wait_s) / 60) + 1
        args = ["sbatch", "--parsable", "--exclusive", "--nodes=1", f"--nodelist={node}",
                f"--job-name=factorybench-{job.run_id}", f"--time={limit}",
                f"--output={shared / node / 'slurm.log'}", f"--chdir={shared}",
                *(["--partition", self.partition] if self.partition else []),
                *self.sbatch_args, str(script), node]
        proc = subprocess.run([slurm_tool("sbatch"), *args[1:]], capture_output=True,
                              text=True, env=self.env, timeout=60)
        if proc.returncode != 0:
            return None, f"sbatch refused the job: {_last_line(proc.stderr)}"
        return proc.stdout.strip().split(";")[0], None

    # -- watch -----------------------------------------------------------------

    def _queue(self, ids: Sequence[str]) -> dict | None:
        """{job id: (state, reason)} of these jobs, ended ones included while
        Slurm remembers them; None when squeue cannot answer."""
        proc = subprocess.run([slurm_tool("squeue"), "-h", "--states=all", "-j", ",".join(ids),
                               "-o", "%i|%T|%r"], capture_output=True, text=True,
                              env=self.env, timeout=60)
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return {}  # every one has ended and been forgotten
            return None
        out = {}
        for line in proc.stdout.splitlines():
            jid, state, reason = (line.split("|", 2) + ["", ""])[:3]
            out[jid.strip()] = (state.strip(), reason.strip())
        return out

    def _finish(self, job: FleetJob, node: str, work: Path, state: str) -> HostOutcome:
        """The node's outcome once its job has ended: the result copied out, or why not."""
        rc_text = _read(work / "rc")
        results = sorted((work / "out").glob("*.json"))
        if rc_text == "0" and len(results) == 1:
            dest = job.out_dir / f"{node}.json"
            write_atomic(dest, results[0].read_bytes())  # whole or not at all
            return HostOutcome(node, node, OK, None, dest)
        if rc_text == str(LOCK_BUSY_RC):
            reason = (f"another factorybench run held the lock {self.lock} for the whole "
                      f"{job.lock_wait_s:g} s wait")
        elif rc_text is not None:
            reason = f"the run exited {rc_text}: {_last_line(_read(work / 'log'))}"
        else:
            reason = (f"the job ended {state or 'without a state'} before the run finished: "
                      f"{_last_line(_read(work / 'slurm.log'))}")
        return HostOutcome(node, node, FAILED, reason)

    def run(self, job: FleetJob, watcher: Watcher) -> list:
        shared = (self.shared_dir or job.out_dir / "slurm").resolve()
        shared.mkdir(parents=True, exist_ok=True)
        script = shared / "job.sh"
        script.write_text(batch_script(job, shared, self.python, self.lock))
        script.chmod(0o755)
        outcomes: dict = {}
        jobs: dict = {}  # job id -> node
        for node, why in self._dead().items():
            outcomes[node] = HostOutcome(node, node, UNREACHABLE, why)
            watcher.host(node, UNREACHABLE, why)
        for node in self.nodes:
            if node in outcomes:
                continue
            (shared / node).mkdir(exist_ok=True)
            jid, why = self._submit(job, script, node, shared)
            if jid is None:
                outcomes[node] = HostOutcome(node, node, FAILED, why)
                watcher.host(node, FAILED, why)
            else:
                jobs[jid] = node
                watcher.host(node, WAITING, f"job {jid} submitted")
        try:
            self._watch(job, shared, jobs, outcomes, watcher)
        except BaseException:
            self._cancel([j for j, n in jobs.items() if n not in outcomes])
            raise
        return [outcomes[n] for n in self.nodes]

    def _watch(self, job: FleetJob, shared: Path, jobs: dict, outcomes: dict,
               watcher: Watcher) -> None:
        started: dict = {}  # node -> monotonic time its job began running
        limit = job.timeout_s + job.lock_wait_s + GRACE_S
        while any(n not in outcomes for n in jobs.values()):
            live = [j for j, n in jobs.items() if n not in outcomes]
            queue = self._queue(live)
            now = time.monotonic()
            for jid in live:
                node = jobs[jid]
                work = shared / node
                state, reason = (queue or {}).get(jid, ("", ""))
                if queue is not None and (state in ENDED or jid not in queue):
                    outcomes[node] = self._finish(job, node, work, state or self._sacct(jid))
                    o = outcomes[node]
                    watcher.host(node, o.state, o.reason or str(o.result))
                elif state == "PENDING" and any(r in reason for r in DEAD_REASONS):
                    self._cancel([jid])
                    outcomes[node] = HostOutcome(node, node, UNREACHABLE,
                                                 f"job {jid} cannot start: {reason}")
                    watcher.host(node, UNREACHABLE, outcomes[node].reason)
                elif state == "PENDING":
                    why = reason if reason not in ("", "None") else "queued"
                    watcher.host(node, WAITING, f"job {jid} pending ({why})")
                elif state in ("RUNNING", "COMPLETING"):
                    started.setdefault(node, now)
                    status = _read(work / "status") or ""
                    if state == "COMPLETING":
                        watcher.host(node, FETCHING, "")
                    elif status.startswith("waiting for the lock"):
                        watcher.host(node, LOCKED, status)
                    else:
                        watcher.host(node, RUNNING, status)
                    if now - started[node] > limit:
                        self._cancel([jid])
                        outcomes[node] = HostOutcome(node, node, FAILED,
                                                     f"no result within {limit:g} s")
                        watcher.host(node, FAILED, outcomes[node].reason)
            if any(n not in outcomes for n in jobs.values()):
                time.sleep(self.poll_s)

    def _sacct(self, jid: str) -> str:
        """The final state of a job squeue has forgotten, from accounting
        (empty when the cluster keeps none)."""
        if shutil.which("sacct") is None:
            return ""
        proc = subprocess.run(["sacct", "-n", "-P", "-X", "-j", jid, "-o", "State"],
                              capture_output=True, text=True, env=self.env, timeout=60)
        return proc.stdout.strip().split("\n")[0].strip() if proc.returncode == 0 else ""

    def _cancel(self, ids: Sequence[str]) -> None:
        if ids:
            subprocess.run([slurm_tool("scancel"), *ids], capture_output=True, env=self.env,
                           timeout=60)


def _writable(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--shared-dir: cannot create {str(path)!r} ({exc.strerror}); "
                        "accepted: a writable directory every node sees") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"--shared-dir: {str(path)!r} is not writable; accepted: a writable "
                        "directory every node sees")
    return path


def _read(path: Path) -> str | None:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    return lines[0].strip() if path.name in ("rc", "status") and lines else "\n".join(lines)
