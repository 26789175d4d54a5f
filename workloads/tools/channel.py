"""A length-prefixed pickle channel over one end of a socketpair.

Cheaper per message than multiprocessing.Connection (one send and, usually,
one receive system call per message, no ForkingPickler), which keeps the
load generator's own CPU use small at thousands of calls per second.
"""
from __future__ import annotations

import pickle
import socket
import struct

_LEN = struct.Struct("<I")
_CHUNK = 1 << 16


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = bytearray()

    @classmethod
    def pair(cls) -> tuple:
        a, b = socket.socketpair()
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, obj) -> None:
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
        self.sock.sendall(_LEN.pack(len(data)) + data)

    def _next(self):
        """Pop one complete message off the buffer; None when there is none."""
        buf = self._buf
        if len(buf) < 4:
            return None
        (n,) = _LEN.unpack_from(buf)
        if len(buf) - 4 < n:
            return None
        obj = pickle.loads(memoryview(buf)[4:4 + n])
        del buf[:4 + n]
        return obj

    def _fill(self) -> None:
        chunk = self.sock.recv(_CHUNK)
        if not chunk:
            raise EOFError("channel closed by the other end")
        self._buf += chunk

    def receive_ready(self) -> list:
        """Messages available now (call after the socket polled readable).
        Raises EOFError when the other end is gone."""
        self._fill()
        out = []
        while (obj := self._next()) is not None:
            out.append(obj)
        return out

    def receive(self):
        """Block for the next message (worker side)."""
        while (obj := self._next()) is None:
            self._fill()
        return obj
