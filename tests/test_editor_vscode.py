"""The VS Code extension (editors/vscode), packaged as a .vsix, in real VS Code: code-server 4.100
driven by playwright-core in Debian's headless Chromium.

editors/vscode/scripts/setup-test.sh installs what it needs (idempotently; a few minutes the first
time, seconds after). editors/vscode/test/e2e/run.mjs does the editor side: a helper extension
publishes Ruff's F401 for `import os`; hybrid-lsp's hover explains it, its known quick fix removes
the line and is saved to disk; "Hybrid: Ask" reaches a loopback model with the current line; the
statistics and "Reject Last Suggestion" commands work; the server's history records it all. It
prints one line per check and saves screenshots under editors/vscode/test-artifacts/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

VSCODE = ROOT / "editors" / "vscode"
SETUP = VSCODE / "scripts" / "setup-test.sh"
RUN = VSCODE / "test" / "e2e" / "run.mjs"


def run(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    """Runs a command with its output captured; on timeout it is asked to stop (so it can clean up)."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        output += f"\n(stopped after {timeout:.0f}s)"
    return process.returncode, output, time.monotonic() - started


@pytest.mark.timeout(900)
def test_vscode_extension_explains_fixes_and_asks_in_code_server() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_"))}
    code, output, took = run(["bash", str(SETUP)], env, timeout=600)
    if code != 0:
        pytest.fail(f"{SETUP.relative_to(ROOT)} failed (exit {code}) after {took:.0f}s, so VS Code could not be "
                    f"tested; run it by hand to see why. Its last output:\n{output[-4000:]}", pytrace=False)
    print(f"setup: {took:.0f}s")

    bin_dir = Path(sys.executable).parent
    env.update(HYBRID_LSP_COMMAND=str(bin_dir / "hybrid-lsp"), PYTHON=sys.executable, E2E_DEADLINE="240")
    code, output, took = run(["node", str(RUN)], env, timeout=270)
    print(output)
    print(f"test: {took:.0f}s")
    assert code == 0, f"the VS Code end-to-end test failed (exit {code}); screenshots and logs are in " \
                      f"{VSCODE.relative_to(ROOT)}/test-artifacts/. Its output:\n{output[-8000:]}"
