"""The Ansible backend: one playbook through ansible-runner.

Per host: copy the project archive to the host, start the run detached
(Ansible async, so it survives a dropped SSH connection) under the host's
lock (flock: one factorybench run per machine, whichever fleet started
it; the archive is unpacked under it), poll its status file every few
seconds (the current benchmark; `raw`, so no Python starts on a host that
is benchmarking), then fetch the result file. Hosts run at once up to
`--parallel` (Ansible's forks).
"""
from __future__ import annotations

import json
import math
import shlex
import tempfile
from pathlib import Path

from suite.errors import UserError
from suite.fleet.archive import project_archive
from suite.fleet.base import (FAILED, FETCHING, FINAL_STATES, LOCKED, OK, RUNNING, SHIPPING,
                              UNREACHABLE, Backend, FleetJob, HostOutcome, Watcher)
from suite.fleet.inventory import Host, ansible_tool, load_inventory, tool_env

POLL_S = 2  # seconds between status polls of a running host
LOCK_BUSY_RC = 75  # flock -E: the lock stayed held for the whole wait
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=60s -o ConnectTimeout=5"


def shell_path(path: str) -> str:
    """A host path for the shell: quoted, with a leading ~/ left to the shell."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


ARCHIVE = "factorybench.tar.gz"


def run_command(host: Host, job: FleetJob) -> str:
    """The detached job on the host: wait for the lock, unpack the project
    (under the lock: never under another fleet's running benchmarks), run,
    record the exit status last (its presence says the run is over)."""
    work = f"fleet/{job.run_id}"
    runner = (f"{shlex.quote(host.python)} -m suite" if host.python else "./run.sh")
    argv = ["run", *job.selection, "--profile", job.profile, "--out", f"{work}/out",
            "--machine", host.machine, "--status-file", f"{work}/status"]
    locked = (f"tar -xzf {work}/{ARCHIVE} && rm -f {work}/{ARCHIVE} && "
              f"echo starting >{work}/status && exec {runner} "
              + " ".join(shlex.quote(a) for a in argv))
    return (f"cd {shell_path(host.dir)} && exec >{work}/log 2>&1 </dev/null; "
            f"echo 'waiting for the lock {host.lock}' >{work}/status; "
            f"export NUMBA_CACHE_DIR=\"$PWD/.cache/numba\" PYTHONDONTWRITEBYTECODE=1; "
            f"flock -w {int(job.lock_wait_s)} -E {LOCK_BUSY_RC} {shlex.quote(host.lock)} "
            f"sh -c {shlex.quote(locked)}; "
            f"echo $? >{work}/rc.tmp && mv {work}/rc.tmp {work}/rc")


def poll_command(host: Host, job: FleetJob) -> str:
    """`running <status>` while the run goes on; once over, `done <exit status>`,
    `result <file>` (when the run wrote one) and `last <the log's last line>`."""
    work = f"{shell_path(host.dir)}/fleet/{job.run_id}"
    return (f"if [ -f {work}/rc ]; then echo \"done $(cat {work}/rc)\"; "
            f"for f in {work}/out/*.json; do [ -f \"$f\" ] && echo \"result $f\"; break; done; "
            f"echo \"last $(grep -v '^[[:space:]]*$' {work}/log | tail -n 1)\"; "
            f"else echo \"running $(head -n 1 {work}/status 2>/dev/null)\"; fi")


def poll_lines(stdout: str) -> dict:
    """The poll's output by its first word (running, done, result, last)."""
    out: dict = {}
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        out.setdefault(word, rest.strip())
    return out


def playbook(job: FleetJob, hosts: list, archive: Path) -> list:
    """The play, as data (JSON is YAML)."""
    timeout = int(job.timeout_s + job.lock_wait_s)
    per_host = {h.name: {"work": f"{h.dir}/fleet/{job.run_id}/",
                         "run": run_command(h, job), "poll": poll_command(h, job)}
                for h in hosts}
    fb = "fb_hosts[inventory_hostname]"
    done = "fb_poll.stdout.startswith('done')"
    result = "fb_poll.stdout_lines | select('match', '^result ') | list"
    return [{
        "name": f"factorybench fleet run {job.run_id}",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"fb_hosts": per_host},
        "tasks": [
            {"name": "ship", "ansible.builtin.copy": {"src": str(archive),
                                                      "dest": f"{{{{ {fb}.work }}}}"}},
            {"name": "launch", "ansible.builtin.shell": f"{{{{ {fb}.run }}}}",
             "async": timeout, "poll": 0},
            {"name": "poll", "ansible.builtin.raw": f"{{{{ {fb}.poll }}}}",
             "register": "fb_poll", "changed_when": False, "until": done,
             "retries": math.ceil(timeout / POLL_S) + 5, "delay": POLL_S,
             "failed_when": f"fb_poll.rc != 0 or ({done} and (fb_poll.stdout_lines[0] != "
                            f"'done 0' or not {result}))"},
            {"name": "fetch", "ansible.builtin.fetch": {
                "src": f"{{{{ {result} | first | regex_replace('^result ', '') }}}}",
                "dest": str(job.out_dir.resolve()) + "/{{ inventory_hostname }}.json",
                "flat": True}},
        ],
    }]


def failure_reason(host: Host, job: FleetJob, task: str, res: dict) -> str:
    """One line saying why a host failed."""
    polled = poll_lines(res.get("stdout") or "") if task == "poll" else {}
    if "done" in polled:
        rc, last = polled["done"], polled.get("last") or "no output"
        if rc == str(LOCK_BUSY_RC):
            return (f"another factorybench run held the lock {host.lock} for the whole "
                    f"{job.lock_wait_s:g} s wait")
        if rc == "0":
            return f"the run wrote no result file: {last}"
        return f"the run exited {rc}: {last}"
    if "running" in polled:
        return f"no result within {job.timeout_s + job.lock_wait_s:g} s"
    msg = res.get("msg") or res.get("stderr") or "failed"
    return f"{task}: {' '.join(str(msg).split())[:300]}"


class EventReader:
    """ansible-runner events to host states and outcomes."""

    STATE_OF_TASK = {"ship": SHIPPING, "launch": RUNNING,
                     "poll": RUNNING, "fetch": FETCHING}

    def __init__(self, hosts: list, job: FleetJob, watcher: Watcher):
        self.hosts = {h.name: h for h in hosts}
        self.job, self.watcher = job, watcher
        self.outcomes: dict = {}

    def _final(self, host: str, state: str, reason: str | None = None,
               result: Path | None = None) -> None:
        if host in self.outcomes or host not in self.hosts:
            return
        self.outcomes[host] = HostOutcome(host, self.hosts[host].machine, state, reason, result)
        self.watcher.host(host, state, reason or (str(result) if result else ""))

    def __call__(self, event: dict) -> bool:
        data = event.get("event_data") or {}
        host, task = data.get("host"), data.get("task")
        kind = event.get("event")
        if host not in self.hosts or host in self.outcomes:
            return True
        res = data.get("res") or {}
        if kind == "runner_on_start" and task in self.STATE_OF_TASK:
            self.watcher.host(host, self.STATE_OF_TASK[task], "" if task != "poll" else None)
        elif kind == "runner_retry":
            status = (res.get("stdout") or "").removeprefix("running").strip()
            state = LOCKED if status.startswith("waiting for the lock") else RUNNING
            self.watcher.host(host, state, status)
        elif kind == "runner_on_unreachable":
            self._final(host, UNREACHABLE, " ".join(str(res.get("msg") or "unreachable").split())[:300])
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self._final(host, FAILED, failure_reason(self.hosts[host], self.job, task, res))
        elif kind == "runner_on_ok" and task == "fetch":
            self._final(host, OK, result=self.job.out_dir / f"{host}.json")
        return True

    def finish(self, status: str, error: str | None) -> list:
        for host in self.hosts:
            self._final(host, FAILED, f"the playbook ended ({status}) before this host "
                                      f"finished" + (f": {error}" if error else ""))
        return [self.outcomes[h] for h in self.hosts]


def _last_error(result) -> str | None:
    """The playbook's own error line (a syntax or inventory error), if any."""
    try:
        text = result.stdout.read()
    except (OSError, ValueError, AttributeError):
        return None
    lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
    return lines[-1][:300] if lines else None


class AnsibleBackend(Backend):
    name = "ansible"

    def __init__(self, inventory: Path):
        self.inventory = inventory.resolve()
        self._hosts = load_inventory(inventory)

    def hosts(self):
        return [(h.name, h.machine) for h in self._hosts]

    def run(self, job: FleetJob, watcher: Watcher) -> list:
        try:
            import ansible_runner
        except ImportError:
            raise UserError("fleet: ansible-runner is not installed; fleet runs need the fleet "
                            "extra: pip install 'factorybench[fleet]'") from None
        ansible_tool("ansible-playbook")  # found, or one line saying how to get it
        with tempfile.TemporaryDirectory(prefix="factorybench-fleet-") as tmp:
            private = Path(tmp)
            archive = project_archive(private / ARCHIVE)
            (private / "project").mkdir()
            (private / "project" / "fleet.yml").write_text(
                json.dumps(playbook(job, self._hosts, archive), indent=1))
            env = tool_env()
            env.update({"ANSIBLE_FORKS": str(job.parallel), "ANSIBLE_PIPELINING": "True",
                        "ANSIBLE_SSH_ARGS": env.get("ANSIBLE_SSH_ARGS", SSH_ARGS),
                        "ANSIBLE_SSH_RETRIES": env.get("ANSIBLE_SSH_RETRIES", "3"),
                        "ANSIBLE_PYTHON_INTERPRETER": env.get("ANSIBLE_PYTHON_INTERPRETER",
                                                              "auto_silent"),
                        "ANSIBLE_RETRY_FILES_ENABLED": "False",
                        # Its own SSH connections: a fleet run never rides on
                        # another's master connection to a host since gone.
                        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp")})
            reader = EventReader(self._hosts, job, watcher)
            result = ansible_runner.run(
                private_data_dir=str(private), playbook="fleet.yml",
                inventory=str(self.inventory), envvars=env,
                event_handler=reader, quiet=True)
            return reader.finish(result.status, _last_error(result))
