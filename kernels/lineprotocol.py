"""The line protocol of the load and hog processes, without Numba.

A process that loads memory on some cores (kernels.loaded's triad,
workloads.corun.chase's pointer chase) is driven over its stdin and stdout,
one line each:
  parent "run <arg>" -> process "running"; parent "stop <t_start> <t_end>"
  -> process "<work done> <seconds> <ok>" (the work done between the first
  and last chunk ends inside the window, and the seconds between them; a bare
  "stop" counts the whole run); parent "quit" ends it. "ready" is printed once
  the process is set up.

Both sides live here and import neither Numba nor NumPy: the parent that
drives such a process (a co-run child running agent workloads) does not pay
for a Numba import it never uses.
"""
from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys

from kernels import plans

TRIAD_BYTES_PER_ELEMENT = 24  # STREAM counting: reads of b and c, the write of a


# -- the process side ------------------------------------------------------------
def window_rate(marks: list, t_start: float, t_end: float) -> tuple:
    """(elements, seconds) between the first and last chunk ends inside
    [t_start, t_end]; `marks` are (monotonic time, elements done so far)
    after each chunk. (0, 0.0) when fewer than two chunks ended inside."""
    inside = [m for m in marks if t_start <= m[0] <= t_end]
    if len(inside) < 2:
        return 0, 0.0
    (t0, d0), (t1, d1) = inside[0], inside[-1]
    return d1 - d0, t1 - t0


def serve(run) -> None:
    """Say "ready", then answer each "run <arg>" with "running" and, once
    `run(arg)` returns (done, seconds, ok), with "<done> <seconds> <0|1>".
    `run` works until stop_requested() and reads the stop line itself."""
    _say("ready")
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] != "run":
            continue
        _say("running")
        done, seconds, ok = run(int(cmd[1]))
        _say(f"{done} {seconds} {int(ok)}")
    # Its parent waits for it (ProtocolProcess.close): skip the interpreter's
    # teardown of Numba (0.2-0.4 s); it has nothing else to clean up.
    os._exit(0)


def stop_requested() -> bool:
    """A line (the "stop") is waiting on stdin."""
    return bool(select.select([sys.stdin], [], [], 0)[0])


def read_stop() -> tuple:
    """Read the "stop" line: its window (t_start, t_end), the whole run for a bare stop."""
    stop = sys.stdin.readline().split()
    return (float(stop[1]), float(stop[2])) if len(stop) == 3 else (-math.inf, math.inf)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the parent side -------------------------------------------------------------
class ProtocolProcess:
    """A process that serves the protocol (`python -m <module> <json args>`),
    its OpenMP threads spread over `cpus`, driven line by line."""

    def __init__(self, module: str, cpus, args: dict):
        env = dict(os.environ)
        env.update(plans.omp_env(cpus, "spread"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def expect(self, word: str) -> None:
        line = self.proc.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"load process said {line!r}, expected {word!r} "
                               f"(exit status {self.proc.poll()})")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self, t_start: float | None = None, t_end: float | None = None) -> tuple:
        """(elements, seconds, values ok) of the load inside the window
        [t_start, t_end] of time.monotonic(), or over its whole run."""
        self.send("stop" if t_start is None else f"stop {t_start!r} {t_end!r}")
        done, seconds, ok = self.proc.stdout.readline().split()
        return int(done), float(seconds), ok == "1"

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class LoadProcess(ProtocolProcess):
    """kernels.loaded's triad load, run as a process."""

    def __init__(self, cpus, elements: int, nodes=None):
        super().__init__("kernels.loaded", cpus, {"cpus": list(cpus), "elements": elements,
                                                  "nodes": nodes})
