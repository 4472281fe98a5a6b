"""Shared fixtures: isolated data directories, loopback model servers, and real LSP clients."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from model_servers import ModelServer

ROOT = Path(__file__).resolve().parent.parent
TEST_KB = Path(__file__).parent / "data" / "kb.jsonl"


def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no user config, no keys and no model servers unless a test adds them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_"))}
    env["HYBRID_LSP_CONFIG"] = str(tmp_path / "no-config.toml")
    env["HYBRID_LSP_DATA_DIR"] = str(tmp_path / "data")
    # Nothing listens on port 9 (discard): the local model is down unless a test points it elsewhere.
    env["HYBRID_LSP_LOCAL_URL"] = "http://127.0.0.1:9/v1"
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hybrid_lsp", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path)


@pytest.fixture
def kb_env(env: dict[str, str]) -> dict[str, str]:
    """A data directory holding only the small test knowledge base."""
    env["HYBRID_LSP_NO_STARTER"] = "1"
    result = run_cli(env, "kb", "import", str(TEST_KB))
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer().start()
    yield server
    server.stop()


async def start_client(env: dict[str, str], capabilities: str = "visual_studio_code",
                       init_options: dict | None = None) -> LanguageClient:
    config = ClientServerConfig(server_command=[sys.executable, "-m", "hybrid_lsp", "serve"], server_env=env)
    client: LanguageClient = await config.start()
    client.applied_edits = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(capabilities),
        initialization_options=init_options,
        root_uri=Path(env["HYBRID_LSP_DATA_DIR"]).parent.as_uri(),
    ))
    return client


@pytest_asyncio.fixture
async def lsp(kb_env: dict[str, str]) -> AsyncIterator[LanguageClient]:
    client = await start_client(kb_env)
    yield client
    await client.shutdown_session()
    await client.stop()
