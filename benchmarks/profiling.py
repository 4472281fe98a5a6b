"""Where the time and memory go when a target is missed: py-spy samples and /proc memory maps.

py-spy samples every thread of a process (the server's worker threads included) with idle
threads included, then samples whose innermost frame is a wait (the event loop's select, an idle
worker) are dropped: what remains is where busy wall time goes, blocking I/O such as fsync
included. Shares are of those busy samples, by function (file and name; all lines together).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Self

PY_SPY = Path(sys.executable).with_name("py-spy")
_FRAME = re.compile(r"^(?P<name>.+?) \((?P<file>.*?)(?::\d+)?\)$")
# Innermost frames that mean "waiting for work", not "working": the event loop's select, idle
# worker threads, and threads blocked accepting or reading a connection (e.g. a listener thread).
_IDLE_FILES = ("selectors.py", "threading.py", "queue.py", "concurrent/futures/thread.py", "socket.py",
               "multiprocessing/connection.py")
# Frames present in nearly every stack that say nothing about the cost: the event loop and thread
# machinery, the interpreter's module runner and import system, and the benchmark's own drivers.
_GENERIC_FILES = ("asyncio/", "threading.py", "concurrent/futures/", "runpy", "selectors.py", "contextvars",
                  "importlib._bootstrap", "benchmarks/")


def available() -> bool:
    return PY_SPY.exists()


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarise(raw: str, top: int = 14) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks to the hottest functions: inclusive and self shares."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    busy = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        leaf = _FRAME.match(frames[-1])
        if leaf and any(s in leaf.group("file") for s in _IDLE_FILES):
            continue
        if any("benchmarks/profiling.py" in f for f in frames):
            continue  # the sampler waiting for py-spy to attach
        busy += count
        seen: set[str] = set()
        for frame in frames:
            match = _FRAME.match(frame)
            if not match:
                continue
            key = f"{match.group('name')} ({_short(match.group('file'))})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
        if leaf:
            own[f"{leaf.group('name')} ({_short(leaf.group('file'))})"] += count
            lines[_short(frames[-1].split(" (", 1)[1].rstrip(")"))] += count
    if not busy:
        return {"busy_samples": 0, "top": [], "hottest_lines": []}
    rows = [
        {"function": key, "inclusive": round(n / busy, 4), "self": round(own.get(key, 0) / busy, 4)}
        for key, n in inclusive.most_common()
        if not any(g in key for g in _GENERIC_FILES) and "<module>" not in key
    ]
    return {"busy_samples": busy, "top": rows[:top],
            "hottest_lines": [{"line": k, "self": round(n / busy, 4)} for k, n in lines.most_common(8)]}


class Sampler:
    """`py-spy record` on a running process for as long as the with-block lasts."""

    def __init__(self, pid: int, rate: int = 400) -> None:
        self.pid, self.rate = pid, rate
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Self:
        self._out = Path(tempfile.mkstemp(prefix="py-spy-", suffix=".txt")[1])
        self._process = subprocess.Popen(
            [str(PY_SPY), "record", "--pid", str(self.pid), "--rate", str(self.rate), "--idle",
             "--format", "raw", "--output", str(self._out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.7)  # attaching takes a moment; the workload must not start before it
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.send_signal(signal.SIGINT)
        try:
            _, err = self._process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        raw = self._out.read_text() if self._out.exists() else ""
        self._out.unlink(missing_ok=True)
        self.result = summarise(raw)
        if not self.result["busy_samples"]:
            self.result["error"] = (err or "py-spy recorded nothing").strip()[-500:]


def record_command(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`py-spy record -- COMMAND`: a whole short-lived process, from its first instruction."""
    out = Path(tempfile.mkstemp(prefix="py-spy-", suffix=".txt")[1])
    process = subprocess.run(
        [str(PY_SPY), "record", "--rate", "500", "--idle", "--format", "raw", "--output", str(out), "--", *command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    raw = out.read_text() if out.exists() else ""
    out.unlink(missing_ok=True)
    result = summarise(raw)
    if not result["busy_samples"]:
        result["error"] = (process.stderr or process.stdout or "py-spy recorded nothing").strip()[-500:]
    return result


def memory_map(pid: int, data_dir: Path | None = None, top: int = 12) -> dict[str, Any]:
    """Resident memory by mapping (anonymous heap, each shared library, the store's files)."""
    rss: Counter[str] = Counter()
    current = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            path = head[5] if len(head) > 5 else ""
            current = _mapping_name(path, data_dir)
        elif head and head[0] == "Rss:":
            rss[current] += int(head[1])
    total = sum(rss.values())
    return {"rss_mb": round(total / 1024, 1),
            "top": [{"mapping": k, "rss_mb": round(v / 1024, 1), "share": round(v / total, 4)}
                    for k, v in rss.most_common(top)]}


def _mapping_name(path: str, data_dir: Path | None) -> str:
    if not path:
        return "[anon] (Python objects, allocator arenas, native heaps)"
    if path.startswith("["):
        return path
    if data_dir is not None and path.startswith(str(data_dir)):
        parts = Path(path).relative_to(data_dir).parts
        if len(parts) > 4 and parts[2] == "segments":
            return f"data dir: {parts[1]} {parts[4]}"
        return "data dir: " + "/".join(parts[:3])
    if "site-packages/" in path:
        return "lib: " + path.split("site-packages/", 1)[1].split("/", 1)[0]
    return path
