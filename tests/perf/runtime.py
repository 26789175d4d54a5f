"""Performance targets of the runtime workloads, measured side by side.

    .venv/bin/python tests/perf/runtime.py [--skip-suite]

Prints: the warm JVM (and Node.js) pool's no-op dispatch p50 next to the
Python warm pool's, measured in interleaved rounds (target: JVM <= 2x
Python), and the wall time of the quick profile's runtime part
(`run runtime compile.java corun.runtime`, target <= 25 s; an upper bound:
it starts its own co-run hog, which the default run shares with the other
co-run workloads).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from suite import stats  # noqa: E402
from workloads.runtime import tools as runtime_tools  # noqa: E402
from workloads.tools import catalog  # noqa: E402
from workloads.tools.pool import WarmPool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quickrun import timed_quick_run  # noqa: E402
from tools import warm_pool_p50_ms  # noqa: E402  (tests/perf/tools.py: the same measurement)

ROUNDS = 5  # interleaved rounds, each pool measured once per round
WARMUP_MS = 2000


def main() -> None:
    inputs = {"noop": catalog.TOOLS["noop"].make_inputs(1)}
    figures: dict = {"python": [], "jvm": [], "node": []}
    jvm, jvm_info = runtime_tools.open_pool("jvm", inputs, 1, WARMUP_MS)
    node, _ = runtime_tools.open_pool("node", inputs, 1, WARMUP_MS)
    with WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as python:
        try:
            for _ in range(ROUNDS):
                for name, pool in (("python", python), ("jvm", jvm), ("node", node)):
                    figures[name].append(warm_pool_p50_ms(pool))
        finally:
            jvm.close()
            node.close()
    print(f"JVM and Node.js workers sandboxed with {jvm_info['sandbox_backend']}; the Python pool's are not")
    py = stats.median(figures["python"])
    for name in ("jvm", "node"):
        mine = stats.median(figures[name])
        print(f"{name} warm-pool no-op dispatch p50: {mine:.3f} ms (Python warm pool {py:.3f} ms, "
              f"ratio {mine / py:.2f}; rounds {', '.join(f'{x:.3f}' for x in figures[name])}; "
              f"target <= 2.0 for the JVM)")
    if "--skip-suite" in sys.argv:
        return
    run = timed_quick_run("runtime", "compile.java", "corun.runtime")
    print(f"quick runtime part wall time: {run.wall_s:.1f} s (exit {run.returncode}; {run.summary}; "
          f"target <= 25 s)")


if __name__ == "__main__":
    main()
