"""Fixed-shape messages between the warm pool and its workers, over one end
of a socketpair.

Every call and every answer has the same shape, so they travel as
struct-packed records rather than pickles: a request is 16 bytes (call id,
tool number, input index), an answer a fixed header (call id, status, CPU
seconds, end time, SHA-256 hex digest, message length) plus the message
text, if any. One send and, usually, one receive system call per message and
no pickling keep the load generator's own CPU use small at thousands of
calls per second.
"""
from __future__ import annotations

import socket
import struct

# call id, tool number, input index
_REQUEST = struct.Struct("<qiI")
# call id, status, CPU s, end time (perf_counter), digest (hex), message bytes
_ANSWER = struct.Struct("<qBdd64sI")
_CHUNK = 1 << 16
STOP_ID = -1  # request id telling a worker to exit
MESSAGE_LIMIT = 1000  # bytes of an error message kept

# Answer status
OK, RAISED, READY = 0, 1, 2


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""

    @classmethod
    def pair(cls) -> tuple:
        a, b = socket.socketpair()
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    # -- pool side ------------------------------------------------------------
    def send_request(self, call_id: int, tool: int, index: int) -> None:
        self.sock.sendall(_REQUEST.pack(call_id, tool, index))

    def send_stop(self) -> None:
        self.sock.sendall(_REQUEST.pack(STOP_ID, 0, 0))

    def receive_answers(self) -> list:
        """Answers available now, as (call id, status, cpu s, end, digest or
        None, message) tuples (call after the socket polled readable). Raises
        EOFError when the other end is gone."""
        try:
            # Never block: an event may name a descriptor already reused by a
            # replacement worker that has nothing to say yet.
            chunk = self.sock.recv(_CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        if not chunk:
            raise EOFError("channel closed by the other end")
        size = _ANSWER.size
        if not self._buf and len(chunk) == size:  # the usual case: one bare answer
            call_id, status, cpu, end, dig, n = _ANSWER.unpack(chunk)
            if n == 0:
                return [(call_id, status, cpu, end, dig.decode() if status == OK else None, "")]
        buf = self._buf + chunk
        out, at = [], 0
        while len(buf) - at >= size:
            call_id, status, cpu, end, dig, n = _ANSWER.unpack_from(buf, at)
            if len(buf) - at - size < n:
                break
            text = buf[at + size:at + size + n].decode(errors="replace")
            out.append((call_id, status, cpu, end, dig.decode() if status == OK else None, text))
            at += size + n
        self._buf = buf[at:]
        return out

    # -- worker side ----------------------------------------------------------
    def receive_request(self) -> tuple:
        """Block for the next (call id, tool number, input index).
        Raises EOFError when the pool is gone."""
        data = self.sock.recv(_REQUEST.size, socket.MSG_WAITALL)
        if len(data) < _REQUEST.size:
            raise EOFError("channel closed by the other end")
        return _REQUEST.unpack(data)

    def send_answer(self, call_id: int, status: int, cpu_s: float, end: float,
                    digest: str = "", message: str = "") -> None:
        text = message.encode(errors="replace")[:MESSAGE_LIMIT]
        self.sock.sendall(_ANSWER.pack(call_id, status, cpu_s, end, digest.encode(), len(text))
                          + text)
