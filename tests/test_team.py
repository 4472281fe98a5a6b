"""Team mode: the knowledge base on a Qdrant server, reached through qdrant-client over real HTTP.

The server is tests/qdrant_rest.py (Qdrant's REST protocol over the embedded engine); the line to it
goes through tests/fault_proxy.py, which cuts it mid-session. Each data directory is a machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import qdrant_edge as qe
from conftest import ROOT, run_cli, start_client
from fault_proxy import FaultProxy
from qdrant_rest import QdrantRest

from hybrid_lsp.config import HISTORY, QdrantServer, Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.knowledge import parse_entry, point_id, stored_entry
from hybrid_lsp.outbox import Outbox, summary
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.qdrant_server import nearest
from hybrid_lsp.team import notice

SOLUTIONS = "hybrid-lsp-error-solutions"
WRITES = {("PUT", "points"), ("POST", "points/delete"), ("POST", "points/payload")}


MESSAGES = ("", "cannot find value `total` in this scope", "mismatched types: expected `u32`, found `String`",
            "borrow of moved value: `items`", "use of possibly-uninitialized variable `count`",
            "the trait bound `Config: Clone` is not satisfied")


def entry(n: int) -> dict:
    return {"id": f"team:{n}", "error": MESSAGES[n], "solution": f"Solution number {n}.", "source": "rustc",
            "code": f"E{4000 + n}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[QdrantRest]:
    with QdrantRest(tmp_path / "server") as running:
        yield running


@pytest.fixture
def proxy(server: QdrantRest) -> Iterator[FaultProxy]:
    line = FaultProxy(server.port).start()
    yield line
    line.stop()


def machine(path: Path, url: str, **qdrant: object) -> Pipeline:
    settings = Settings(qdrant=QdrantServer(url=url, timeout=2.0, read_timeout=1.0, **qdrant))
    pipeline = Pipeline(path, settings, starter=False)
    pipeline.team.retry_max = 0.5  # reconnect quickly once the line is back
    return pipeline


def best(pipeline: Pipeline, n: int, suffix: str = "") -> str | None:
    """The id of the best match for entry n's message (as the diagnostic with its rule code asks)."""
    matches = pipeline.knowledge.search(entry(n)["error"] + suffix, key=f"rustc:E{4000 + n}")
    return matches[0].entry.id if matches else None


def eventually(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def assert_sent_at_next_start(path: Path, server: QdrantRest) -> None:
    """The machine at `path`, started again, sends what it queued: entry 1 and nothing else."""
    a = machine(path, server.url)
    try:
        assert a.team.wait_synced(10), a.team.status()
        assert {p["entry_id"] for p in server.points(SOLUTIONS).values()} == {"team:1"}
    finally:
        a.close()


def writes_since(server: QdrantRest, start: int) -> list[tuple[str, str]]:
    found = []
    for method, path in server.requests[start:]:
        tail = path.split("?")[0].split("/", 3)[3] if path.count("/") >= 3 else ""
        if (method, tail) in WRITES:
            found.append((method, tail))
    return found


def test_queries_read_back_from_the_engine_translate_exactly():
    dense = qe.QueryRequest(limit=3, query=qe.Query.Nearest([0.25, -1.5, 1e-9], using="dense"))
    sparse = qe.QueryRequest(limit=3, query=qe.Query.Nearest(qe.SparseVector([3, 70], [0.5, 2.0]), using="bm25"))
    assert nearest(dense.query) == ([0.25, -1.5, 1e-9], "dense")
    vector, using = nearest(sparse.query)
    assert (vector.indices, vector.values, using) == ([3, 70], [0.5, 2.0], "bm25")


def test_a_solution_added_on_one_machine_is_found_on_another(tmp_path: Path, server: QdrantRest):
    a, b = machine(tmp_path / "a", server.url), machine(tmp_path / "b", server.url)
    try:
        a.knowledge.add([parse_entry(entry(1))])
        assert a.team.wait_synced(10), a.team.status()
        assert best(b, 1) == "team:1"
        assert any(path.endswith(("/points/query/batch", "/points/scroll")) for _, path in server.requests)
        # An outcome recorded on b lands on the server, and a reads it from there.
        b.knowledge.record_outcome("team:1", "interaction-1", "accepted")
        assert b.team.wait_synced(10)
        assert server.points(SOLUTIONS)[point_id("team:1")]["counts"] == {"accepted": 1}
        assert a.knowledge.search(entry(1)["error"], key="rustc:E4001")[0].counts == {"accepted": 1}
    finally:
        a.close()
        b.close()


def test_a_cut_line_costs_no_latency_and_every_queued_write_lands_once(tmp_path: Path, server: QdrantRest,
                                                                        proxy: FaultProxy):
    a = machine(tmp_path / "a", proxy.url)
    a.knowledge.add([parse_entry(entry(n)) for n in (1, 2)])
    assert a.team.wait_synced(10)
    b = machine(tmp_path / "b", proxy.url)  # starts after a's entries reached the server
    b.team.mirror_every = b.team.refresh = 0.2  # and keeps its local copy current from then on
    try:
        assert b.team.wait_synced(10)
        assert b.store.shards["error-solutions"].local.count() == 2, "b's local copy was brought up to date"

        proxy.cut()
        started = time.monotonic()
        for n in range(1, 6):  # distinct texts: no answer comes from a cache
            a.knowledge.search(f"{MESSAGES[n]} (try {n})")
        assert time.monotonic() - started < 3.0, "searches do not wait on a dead server"
        assert best(b, 1) == "team:1", \
            "a machine that never wrote it answers from its local copy"

        # Writes made while the line is down: acknowledged at once, searchable at once, queued on disk.
        started = time.monotonic()
        a.knowledge.add([parse_entry(entry(n)) for n in (3, 4)])
        a.knowledge.record_outcome("team:1", "interaction-7", "validated")
        a.knowledge.remove("team:2")
        assert time.monotonic() - started < 3.0
        assert best(a, 3) == "team:3"
        assert a.team.status()["state"] == "offline"
        queued = a.team.status()["pending"]
        assert queued >= 3
        a.close()  # the process ends while the server is away ...
        assert summary(tmp_path / "a") == (queued, 0), "... and its queued writes are on disk"
        assert set(server.points(SOLUTIONS)) == {point_id("team:1"), point_id("team:2")}

        proxy.resume()
        before = len(server.requests)
        a = machine(tmp_path / "a", proxy.url)  # the next start sends them
        assert a.team.wait_synced(10), a.team.status()
        assert len(writes_since(server, before)) == queued, "each queued write was sent exactly once"
        points = server.points(SOLUTIONS)
        assert set(points) == {point_id("team:1"), point_id("team:3"), point_id("team:4")}
        assert stored_entry(points[point_id("team:3")]) == parse_entry(entry(3))
        assert stored_entry(points[point_id("team:4")]) == parse_entry(entry(4))
        assert points[point_id("team:1")]["outcomes"] == {"interaction-7": "validated"}
        assert summary(tmp_path / "a") == (0, 0)

        # b reconnects by itself and sees a's writes, on the server and in its local copy.
        assert b.team.wait_synced(10), b.team.status()
        assert best(b, 4) == "team:4"
        assert b.knowledge.get("team:2") is None
        local = b.store.shards["error-solutions"].local
        assert eventually(lambda: {str(r.id) for r in local.scroll()} == set(points)), "the removal reached b's copy"
    finally:
        a.close()
        b.close()


def test_a_server_that_stops_answering_costs_one_read_timeout_at_most(tmp_path: Path, server: QdrantRest,
                                                                      proxy: FaultProxy):
    a = machine(tmp_path / "a", proxy.url)
    try:
        a.knowledge.add([parse_entry(entry(1))])
        assert a.team.wait_synced(10)
        proxy.cut(hang=True)  # connections are accepted and never answered
        started = time.monotonic()
        for n in range(10):
            assert best(a, 1, f" #{n}") == "team:1"
        elapsed = time.monotonic() - started
        assert elapsed < 1.0 + 1.5, f"10 searches took {elapsed:.1f} s"
        assert a.team.status()["state"] == "offline"
        proxy.resume()
        assert a.team.wait_synced(15), a.team.status()
    finally:
        a.close()


def test_a_write_the_server_refuses_is_set_aside_and_the_ones_behind_it_still_land(tmp_path: Path,
                                                                                  server: QdrantRest):
    machine(tmp_path / "a", server.url).close()
    outbox = Outbox(tmp_path / "a")  # a write that can never succeed: a vector of the wrong size
    outbox.put("error-solutions", "upsert", {"points": [{"id": point_id("bad"), "vector": {"dense": [0.5, 0.5]},
                                                         "payload": {}}]})
    outbox.close()
    a = machine(tmp_path / "a", server.url)
    try:
        a.knowledge.add([parse_entry(entry(1))])
        assert a.team.wait_synced(10), a.team.status()
        assert a.team.status()["rejected"] == 1
        assert {p["entry_id"] for p in server.points(SOLUTIONS).values()} == {"team:1"}
    finally:
        a.close()
    assert summary(tmp_path / "a") == (0, 1)


def test_a_collection_deleted_on_the_server_is_created_again_and_refilled(tmp_path: Path, server: QdrantRest):
    a = machine(tmp_path / "a", server.url)
    try:
        a.knowledge.add([parse_entry(entry(1))])
        assert a.team.wait_synced(10)
        server.handle("DELETE", f"/collections/{SOLUTIONS}", b"")
        a.knowledge.add([parse_entry(entry(2))])
        assert eventually(lambda: {p["entry_id"] for p in server.points(SOLUTIONS).values()} == {"team:1", "team:2"}
                          if SOLUTIONS in server.names() else False), a.team.status()
        assert a.team.wait_synced(10)
        assert a.knowledge.get("team:1") is not None, "the local copy was not emptied to match the server"
    finally:
        a.close()


_WRITER = """
import sys, time
from pathlib import Path
from hybrid_lsp.config import QdrantServer, Settings
from hybrid_lsp.knowledge import parse_entry
from hybrid_lsp.pipeline import Pipeline
pipeline = Pipeline(Path({data!r}), Settings(qdrant=QdrantServer(url={url!r}, timeout=2.0)), starter=False)
pipeline.knowledge.add([parse_entry(e) for e in {entries!r}])
print("acknowledged", pipeline.team.status()["pending"], flush=True)
time.sleep(600)
"""


def test_writes_acknowledged_by_a_process_killed_while_the_server_was_away_are_sent_later(
        tmp_path: Path, server: QdrantRest, proxy: FaultProxy):
    proxy.cut()
    data = tmp_path / "a"
    script = _WRITER.format(data=str(data), url=proxy.url,
                            entries=[entry(n) for n in range(1, 4)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_LSP_", "QDRANT_"))}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line.startswith("acknowledged"), process.stderr.read() if process.poll() is not None else line
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)  # no clean shutdown: what is on disk is all there is
        process.wait()
    assert summary(data)[0] == int(line.split()[1]) > 0
    proxy.resume()
    a = machine(data, proxy.url)
    try:
        assert a.team.wait_synced(10), a.team.status()
        assert {p["entry_id"] for p in server.points(SOLUTIONS).values()} == {"team:1", "team:2", "team:3"}
    finally:
        a.close()


def test_entries_made_before_joining_are_shared_and_history_stays_local(tmp_path: Path, server: QdrantRest):
    solo = Pipeline(tmp_path / "a", Settings(), starter=False)
    solo.knowledge.add([parse_entry(entry(1))])
    solo.close()
    a = machine(tmp_path / "a", server.url)
    try:
        assert a.team.wait_synced(10)
        assert {p["entry_id"] for p in server.points(SOLUTIONS).values()} == {"team:1"}
        a.history.record(Interaction(kind="fix", query="q", fingerprint="f", route="known", relevance=1.0,
                                     complexity=1, reason=""))
        assert a.team.wait_synced(10)
        assert f"hybrid-lsp-{HISTORY}" not in server.names()
    finally:
        a.close()
    shared = machine(tmp_path / "b", server.url, history=True)
    try:
        interaction = Interaction(kind="fix", query="q", fingerprint="f", route="known", relevance=1.0,
                                  complexity=1, reason="")
        shared.history.record(interaction)
        shared.history.set_outcome(interaction.id, "accepted")
        assert shared.team.wait_synced(10)
        assert server.points(f"hybrid-lsp-{HISTORY}")[interaction.id]["outcome"] == "accepted"
        assert [i.id for i in shared.history.list(days=1)] == [interaction.id]  # a filtered scroll, on the server
    finally:
        shared.close()


def test_a_wrong_api_key_is_reported_and_the_writes_wait_for_the_right_one(tmp_path: Path, monkeypatch):
    with QdrantRest(tmp_path / "server", api_key="right-key") as server:
        for name in ("HYBRID_LSP_QDRANT_API_KEY", "QDRANT_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        a = machine(tmp_path / "a", server.url)
        try:
            assert "wants an API key (HTTP 401" in a.team.status()["reason"]
        finally:
            a.close()
        monkeypatch.setenv("HYBRID_LSP_QDRANT_API_KEY", "wrong-key")
        a = machine(tmp_path / "a", server.url)
        try:
            status = a.team.status()
            assert status["state"] == "refused"
            assert "refused the API key (HTTP 403" in status["reason"] and "HYBRID_LSP_QDRANT_API_KEY" in status["reason"]
            a.knowledge.add([parse_entry(entry(1))])  # works on the local copy, queued for later
            assert best(a, 1) == "team:1"
        finally:
            a.close()
        monkeypatch.setenv("HYBRID_LSP_QDRANT_API_KEY", "right-key")
        assert_sent_at_next_start(tmp_path / "a", server)


def test_a_url_that_is_not_a_qdrant_server_is_reported_and_nothing_is_lost(tmp_path: Path, model_server):
    a = machine(tmp_path / "a", model_server.url)  # an HTTP server, but a model server
    try:
        status = a.team.status()
        assert status["state"] == "refused" and "points to a Qdrant server" in status["reason"], status
        a.knowledge.add([parse_entry(entry(1))])
        assert a.team.status()["pending"] > 0 and a.team.status()["rejected"] == 0
    finally:
        a.close()


def test_doctor_reports_the_team_server_and_the_outbox(env, tmp_path: Path):
    with QdrantRest(tmp_path / "server", api_key="right-key") as server:
        env.update(HYBRID_LSP_QDRANT_URL=server.url, HYBRID_LSP_QDRANT_API_KEY="right-key", HYBRID_LSP_NO_STARTER="1")
        imported = run_cli(env, "kb", "import", str(ROOT / "tests" / "data" / "kb.jsonl"))
        assert imported.returncode == 0, imported.stderr
        assert len(server.points(SOLUTIONS)) > 0, "the import was sent before its process exited"
        result = run_cli(env, "doctor")
        assert f"ok   team server: {server.url} answers; collections: " in result.stdout, result.stdout
        assert f"{SOLUTIONS} (" in result.stdout
        assert "ok   team outbox: 0 write(s) waiting" in result.stdout
        env["HYBRID_LSP_QDRANT_API_KEY"] = "wrong-key"
        result = run_cli(env, "doctor")
        assert "FAIL team server: the Qdrant server at" in result.stdout and "refused the API key" in result.stdout


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.pem", directory / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_an_https_url_uses_tls_and_an_untrusted_certificate_is_reported(tmp_path: Path, monkeypatch):
    cert, key = self_signed(tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("HYBRID_LSP_QDRANT_API_KEY", "secret")
    with QdrantRest(tmp_path / "server", api_key="secret", tls=(cert, key)) as server:
        assert server.url.startswith("https://")
        a = machine(tmp_path / "a", server.url)
        try:
            status = a.team.status()
            assert status["state"] == "refused" and "TLS certificate" in status["reason"]
            assert "SSL_CERT_FILE" in status["reason"]
            a.knowledge.add([parse_entry(entry(1))])
        finally:
            a.close()
        assert server.names() == [], "nothing was sent to a server whose certificate was not trusted"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the team's own certificate authority
        assert_sent_at_next_start(tmp_path / "a", server)


def test_the_editor_is_told_when_the_team_server_goes_away_and_comes_back():
    status = {"url": "https://qdrant.example:6333", "reason": "connection refused", "pending": 3}
    assert notice("connecting", "online", status) is None, "the first connection is not news"
    severity, message = notice("online", "offline", status)
    assert severity == "warning" and "unreachable (connection refused)" in message and "3 write(s)" in message
    assert notice("offline", "offline", status) is None, "said once, not at every retry"
    severity, message = notice("offline", "refused", {**status, "reason": "HTTP 401"})
    assert severity == "error" and "HYBRID_LSP_QDRANT_API_KEY" in message
    severity, message = notice("refused", "online", status)
    assert severity == "info" and "reachable again" in message


@pytest.mark.asyncio
async def test_an_editor_sees_the_team_server_go_away_and_come_back(env, proxy: FaultProxy):
    import asyncio

    from lsprotocol import types
    from test_lsp import UNUSED_OS, code_actions, open_document

    env["HYBRID_LSP_QDRANT_URL"] = proxy.url
    client = await start_client(env)
    messages = client.messages  # window/showMessage, as pytest-lsp's client keeps them

    async def said(severity: types.MessageType, text: str) -> bool:
        for _ in range(600):
            if any(m.type == severity and text in m.message for m in messages):
                return True
            await asyncio.sleep(0.05)
        return False

    try:
        open_document(client)
        assert await code_actions(client, UNUSED_OS) is not None  # answered from the server
        assert not messages, [m.message for m in messages]

        proxy.cut()
        unseen = types.Diagnostic(range=UNUSED_OS.range, message="`sys` imported but unused", code="F401",
                                  source="Ruff", severity=types.DiagnosticSeverity.Error)
        assert await code_actions(client, unseen) is not None, "answered from the local copy"
        assert await said(types.MessageType.Warning, "is unreachable"), [m.message for m in messages]

        proxy.resume()
        assert await said(types.MessageType.Info, "reachable again"), [m.message for m in messages]
        assert sum("unreachable" in m.message for m in messages) == 1
    finally:
        await client.shutdown_session()
        await client.stop()
