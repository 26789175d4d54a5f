"""Child processes that report to their parent over a pipe.

A child sends (kind, body) messages, or ("error", one line) when it fails;
the parent waits for the kind it expects and stops its children by
sending None. Shared by the database clients and the load generator
processes.
"""
from __future__ import annotations


def start(ctx, target, args: tuple, daemon: bool = False):
    """A started child running target(its pipe end, *args), and the
    parent's end of that pipe: (pipe, process)."""
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=daemon)
    proc.start()
    child.close()
    return parent, proc


def all_ready(pipes, who: str) -> None:
    """Wait for every child's "ready" message (receive's errors)."""
    for pipe in pipes:
        receive(pipe, "ready", who)


def receive(pipe, wanted: str, who: str):
    """The body of the next message, which must be of kind `wanted`; a
    child's error or death raises RuntimeError naming `who`."""
    try:
        kind, body = pipe.recv()
    except EOFError:
        raise RuntimeError(f"a {who} process died") from None
    if kind == "error":
        raise RuntimeError(body)
    if kind != wanted:
        raise RuntimeError(f"a {who} process sent {kind!r}, expected {wanted!r}")
    return body


def stop(pipes, procs, timeout_s: float = 10.0) -> None:
    """Ask every child to finish (None), wait, kill what is left."""
    for pipe in pipes:
        try:
            pipe.send(None)
        except OSError:
            pass
    for proc in procs:
        proc.join(timeout=timeout_s)
        if proc.is_alive():
            proc.kill()
            proc.join()
