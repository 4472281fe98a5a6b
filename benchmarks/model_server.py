"""The tests' loopback model server (tests/model_servers.py, reused unchanged) in a process of its own.

In its own process it never competes with the code being measured for the GIL. It answers every
chat request at once with a one-line fix in the structured format the prompt asks for. Prints its
URL on the first line of stdout and stops when stdin closes.

    python -m benchmarks.model_server LINE REPLACEMENT [CHUNKS CHUNK_DELAY]
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent


def _model_servers():
    spec = importlib.util.spec_from_file_location("model_servers", ROOT / "tests" / "model_servers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_servers"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


class ModelServerProcess:
    """Starts the loopback model server; `url` is its base (append /v1 for OpenAI clients).

    With `chunks` it streams each answer in that many pieces, `chunk_delay` seconds apart
    (a slow model, for the load benchmark)."""

    def __init__(self, line: int, replacement: str, chunks: int | None = None, chunk_delay: float = 0.0) -> None:
        # Its stderr goes to a file: http.server prints a traceback whenever a client drops a kept-alive
        # connection, which is noise here, but a failure to start must be explained.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed in stop())
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.model_server", str(line), replacement,
             *((str(chunks), str(chunk_delay)) if chunks else ())],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self._process.wait(timeout=10)
            self._log.seek(0)
            said = self._log.read()[-2000:]
            self.stop()
            raise RuntimeError(f"the loopback model server did not start: {said}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    line, replacement = int(sys.argv[1]), sys.argv[2]
    pacing = {"chunks": int(sys.argv[3]), "chunk_delay": float(sys.argv[4])} if len(sys.argv) > 4 else {}
    servers = _model_servers()
    server = servers.ModelServer(reply=servers.replace_line_reply(line, replacement, "Fixed by the loopback model."),
                                 **pacing)
    server.start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
