"""Child program of the fresh-process model: one tool call, then exit.

stdin: a pickle of (tool name, payload). stdout: the SHA-256 of the output.
"""
import pickle
import sys


def main() -> int:
    from workloads.tools.catalog import TOOLS, digest

    name, payload = pickle.load(sys.stdin.buffer)
    sys.stdout.write(digest(TOOLS[name].run(payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
