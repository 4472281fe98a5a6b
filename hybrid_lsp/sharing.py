"""Several editor windows on one data directory: one process owns the store, the others use it
through a local socket, and one of them takes over when the owner exits.

The embedded Qdrant shards take a write-ahead-log lock, so exactly one process can open them. That
process (the owner) serves the knowledge base, the history and the manifest on a Unix socket in
the data directory, guarded by a random key only the user can read. Any other process finds the
store busy and talks to the owner instead, through proxies with the same methods. When the owner
goes away, the next call of a client finds the lock free, opens the store itself and becomes the
owner; the remaining clients reconnect to it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from .store import StoreBusy

log = logging.getLogger(__name__)
CONNECT_SECONDS = 10.0


def socket_path(root: Path) -> str:
    path = root / "owner.sock"
    if len(str(path)) < 100:
        return str(path)
    # Unix socket paths are short: long data directories get one in the temporary directory.
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"hybrid-lsp-{digest}.sock")


def _key_path(root: Path) -> Path:
    return root / "owner.key"


class Owner:
    """Serves this process's store objects to the other processes of the same data directory."""

    def __init__(self, root: Path, targets: dict[str, Any]) -> None:
        self.targets = targets
        address = socket_path(root)
        key = secrets.token_bytes(32)
        key_file = _key_path(root)
        key_file.unlink(missing_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        if os.path.exists(address):
            os.unlink(address)  # left by an owner that died; we hold the store lock now
        self._listener = Listener(address, family="AF_UNIX", authkey=key)
        self._closed = False
        self._connections: set[Connection] = set()
        threading.Thread(target=self._accept, name="hybrid-lsp-owner", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection = self._listener.accept()
            except Exception:  # a client that failed authentication, or the listener closing
                if self._closed:
                    return
                continue
            self._connections.add(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    target, name, args, kwargs = connection.recv()
                except (EOFError, OSError, TypeError):  # TypeError: closed under our feet by close()
                    return
                try:
                    result = getattr(self.targets[target], name)(*args, **kwargs)
                    reply = ("ok", result)
                except Exception as exc:  # sent back and raised in the calling process
                    reply = ("error", exc)
                try:
                    connection.send(reply)
                except (OSError, EOFError):
                    return

    def close(self) -> None:
        """Stop serving: clients see their connection close and take over or reconnect."""
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        for connection in list(self._connections):
            try:
                connection.close()
            except OSError:
                pass


class Link:
    """A client's connection to the owner, re-established (or replaced by ownership) when it breaks."""

    def __init__(self, root: Path, become_owner: Callable[[], dict[str, Any] | None]) -> None:
        self.root = root
        self._become_owner = become_owner
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self.local: dict[str, Any] | None = None  # set once this process took over
        self._connect()

    def _connect(self) -> None:
        deadline = time.monotonic() + CONNECT_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                key = _key_path(self.root).read_bytes()
                self._connection = Client(socket_path(self.root), family="AF_UNIX", authkey=key)
                return
            except (OSError, EOFError) as exc:  # the owner is starting, or gone
                last = exc
            local = self._become_owner()
            if local is not None:
                self.local = local
                log.info("took over the store at %s", self.root)
                return
            time.sleep(0.1)
        raise StoreBusy(f"the knowledge base at {self.root} is held by another process that does not answer ({last})")

    def call(self, target: str, name: str, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            for attempt in range(2):
                if self.local is not None:
                    return getattr(self.local[target], name)(*args, **kwargs)
                try:
                    self._connection.send((target, name, args, kwargs))
                    status, value = self._connection.recv()
                    break
                except (EOFError, OSError):
                    # The owner went away: reconnect, or take over.
                    self._connection = None
                    if attempt:
                        raise
                    self._connect()
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class Proxy:
    """Stands in for a KnowledgeBase, History or Store held by the owner process."""

    def __init__(self, link: Link, target: str) -> None:
        self._link = link
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._link.call(self._target, name, args, kwargs)

        return call
