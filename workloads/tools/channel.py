"""Fixed-shape messages between the warm pool and its workers.

Calls go out through one request queue that every worker reads (a
SOCK_SEQPACKET socketpair: each request is one record, delivered to exactly
one waiting worker). Answers come back on a stream socket per worker, so a
worker's death shows as EOF on its own socket.

Every call and every answer has the same shape, so they travel as
struct-packed records rather than pickles: a request is 16 bytes (call id,
tool number, input index), an answer a fixed header (call id, status, CPU
seconds, end time, SHA-256 hex digest, message length) plus the message
text, if any. One system call per message and no pickling keep the load
generator's own CPU use small at thousands of calls per second.
"""
from __future__ import annotations

import array
import fcntl
import socket
import struct
import termios

# call id, tool number, input index
_REQUEST = struct.Struct("<qiI")
# call id, status, CPU s, end time (perf_counter), digest (hex), message bytes
_ANSWER = struct.Struct("<qBdd64sI")
_CHUNK = 1 << 16
# Answers may wait unread for a few milliseconds (the open loop reads them in
# batches); a roomy buffer keeps a fast worker from blocking on its send.
ANSWER_BUFFER_BYTES = 1 << 20
STOP_ID = -1  # request id telling a worker to exit
MESSAGE_LIMIT = 1000  # bytes of an error message kept

# Answer status
OK, RAISED, READY = 0, 1, 2


class RequestQueue:
    """The pool's shared call queue: the parent puts, any idle worker takes."""

    def __init__(self):
        self._put, self._take = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Never block the load generator: a full queue is the caller's to hold.
        self._put.setblocking(False)

    def put(self, call_id: int, tool: int, index: int) -> bool:
        """Queue a request; False when the kernel queue is full (retry later)."""
        try:
            self._put.send(_REQUEST.pack(call_id, tool, index))
        except BlockingIOError:
            return False
        return True

    def pending(self) -> bool:
        """Whether any request still waits in the queue, unread by a worker.

        SIOCOUTQ on an AF_UNIX socket counts the memory of sent messages the
        receiver has not consumed yet: 0 means every request was taken.
        """
        out = array.array("i", [0])
        fcntl.ioctl(self._put.fileno(), termios.TIOCOUTQ, out, True)
        return out[0] > 0

    def detach_producer(self) -> None:
        """Worker side: drop the inherited put end, so that once the pool is
        gone `take` sees EOF instead of waiting forever."""
        self._put.close()

    def take(self) -> tuple:
        """Worker side: block for the next (call id, tool number, input index).
        Raises EOFError when the pool is gone."""
        data = self._take.recv(_REQUEST.size)
        if len(data) < _REQUEST.size:
            raise EOFError("request queue closed")
        return _REQUEST.unpack(data)

    def close(self) -> None:
        self._put.close()
        self._take.close()


class AnswerChannel:
    """One worker's answers to the pool (a stream socket, one end each)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = b""

    @classmethod
    def pair(cls) -> tuple:
        """(pool end, worker end)."""
        a, b = socket.socketpair()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, ANSWER_BUFFER_BYTES)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ANSWER_BUFFER_BYTES)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    # -- pool side ------------------------------------------------------------
    def receive_answers(self) -> list:
        """Answers available now, as (call id, status, cpu s, end, digest or
        None, message) tuples; [] when there are none. Raises EOFError when
        the worker is gone and everything it sent has been read."""
        try:
            chunk = self.sock.recv(_CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return []
        if not chunk:
            raise EOFError("channel closed by the other end")
        size = _ANSWER.size
        if not self._buf and len(chunk) % size == 0:
            # The usual case: whole answers without message text, unpacked in C.
            rows = list(_ANSWER.iter_unpack(chunk))
            if not any(row[5] for row in rows):
                return [(call_id, status, cpu, end, dig.decode() if status == OK else None, "")
                        for call_id, status, cpu, end, dig, _ in rows]
        buf = self._buf + chunk
        out, at = [], 0
        while len(buf) - at >= size:
            call_id, status, cpu, end, dig, n = _ANSWER.unpack_from(buf, at)
            if len(buf) - at - size < n:
                break
            text = buf[at + size:at + size + n].decode(errors="replace") if n else ""
            out.append((call_id, status, cpu, end, dig.decode() if status == OK else None, text))
            at += size + n
        self._buf = buf[at:]
        return out

    # -- worker side ----------------------------------------------------------
    def send_answer(self, call_id: int, status: int, cpu_s: float, end: float,
                    digest: str = "", message: str = "") -> None:
        text = message.encode(errors="replace")[:MESSAGE_LIMIT]
        self.sock.sendall(_ANSWER.pack(call_id, status, cpu_s, end, digest.encode(), len(text))
                          + text)
