"""A loopback TCP proxy that can cut the line, for tests of what happens when a server goes away.

    proxy = FaultProxy(target_port).start()   # clients connect to proxy.port
    proxy.cut()                               # every open connection is reset; new ones are refused
    proxy.cut(hang=True)                      # ... or accepted and never answered (a black hole)
    proxy.resume()                            # connections go through again

A refused connection is what a stopped server or a closed port looks like; a black hole is what a
dropped network or a firewall that discards packets looks like: the client only learns of it when
its own timeout runs out. `connections` counts the connections accepted while the line was up.
"""

from __future__ import annotations

import select
import socket
import struct
import threading


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._hang = False
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="fault-proxy", daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut() or stop()
                return
            if self._hang:
                with self._lock:
                    self._held.append(client)  # never read, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self.connections += 1
                self._open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        ends = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(ends), [], [], 0.5)
                with self._lock:
                    if client not in self._open:
                        return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    ends[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self, hang: bool = False) -> None:
        """Reset every open connection; refuse new ones (or, with hang, swallow them)."""
        self._hang = hang
        if not hang and self._listener is not None:
            _close_listener(self._listener)
            self._listener = None
        with self._lock:
            doomed, self._open = list(self._open), set()
        for sock in doomed:
            _reset(sock)

    def resume(self) -> None:
        self._hang = False
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)
        if self._listener is None and not self._stopped:
            self._listen()

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        self.resume()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a dropped connection looks to the peer."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _close_listener(listener: socket.socket) -> None:
    """Close a listening socket so that its blocked accept() returns and the port refuses."""
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()
