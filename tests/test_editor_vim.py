"""hybrid-lsp in a real Vim 9 with ALE (Debian's vim and vim-ale), in Ex batch mode.

tests/editors/vim_test.vim configures ALE as editors/vim/README.md says (ruff through ALE, the
hybrid_lsp LSP linter and the forwarding plugin editors/vim/plugin/hybrid_lsp.vim) and writes one
line per check to a log; this wrapper gives it a copy of examples/broken.py, its own data
directory and HOME, and a loopback model server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, base_env
from model_servers import ModelServer

SCRIPT = ROOT / "tests" / "editors" / "vim_test.vim"
ALE = Path("/usr/share/vim-ale")
ANSWER = "Use `collections.Counter` to count words."
INSTALL = "apt-get install -y vim vim-ale (scripts/install-editors.sh does it)"


def code_sent(seen) -> str | None:
    """The code context of an ask prompt (the server's prompt puts it in a fenced block after "Code:")."""
    found = re.search(r"Code:\n```\n(.*?)\n```", seen.prompt, re.DOTALL)
    return found.group(1) if found else None


def vim() -> str:
    binary = shutil.which("vim.basic") or shutil.which("vim.nox") or shutil.which("vim")
    if binary is None:
        pytest.fail(f"Vim is missing: {INSTALL}", pytrace=False)
    version = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    if not version.startswith("VIM - Vi IMproved 9") or "+job" not in version or "+channel" not in version:
        pytest.fail(f"{binary} is not Vim 9 with +job and +channel: {version.splitlines()[:1]}; {INSTALL}", pytrace=False)
    if not (ALE / "autoload" / "ale" / "lsp.vim").exists():
        pytest.fail(f"ALE is missing from {ALE}: {INSTALL}", pytrace=False)
    return binary


def ruff() -> str:
    found = Path(sys.executable).parent / "ruff"
    if not found.exists():
        pytest.fail(f"ruff is missing beside {sys.executable}: it is a dependency of hybrid-lsp (pip install -e .)",
                    pytrace=False)
    return str(found)


def test_vim_ale_forwards_ruff_diagnostics_hovers_applies_the_fix_by_command_and_asks(
        tmp_path: Path, model_server: ModelServer):
    binary = vim()
    model_server.reply = lambda seen: ANSWER
    project = tmp_path / "project"
    project.mkdir()
    broken = project / "broken.py"
    shutil.copy(ROOT / "examples" / "broken.py", broken)
    log = tmp_path / "vim.log"

    env = base_env(tmp_path)
    env.update(
        HOME=str(tmp_path / "home"),
        HYBRID_LSP_LOCAL_URL=model_server.url + "/v1",
        HYBRID_TEST_VIM_DIR=str(ROOT / "editors" / "vim"),
        HYBRID_TEST_ALE_DIR=str(ALE),
        HYBRID_TEST_FILE=str(broken),
        HYBRID_TEST_PYTHON=sys.executable,
        HYBRID_TEST_RUFF=ruff(),
        HYBRID_TEST_ANSWER=ANSWER,
        HYBRID_TEST_LOG=str(log),
    )
    started = time.monotonic()
    result = subprocess.run([binary, "-Nu", "NONE", "-i", "NONE", "-es", "-S", str(SCRIPT)], env=env, cwd=project,
                            stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True, timeout=55)
    elapsed = time.monotonic() - started
    output = (log.read_text() if log.exists() else "(no log written)") + result.stdout + result.stderr
    print(f"vim: {elapsed:.1f} s\n{output}")

    assert result.returncode == 0, output
    assert "not ok" not in output and ", 0 failed" in output, output

    asks = model_server.of("openai")
    assert [seen.body["model"] for seen in asks] == ["vim-init-options-model", "vim-changed-model"]
    assert "What does line four do?" in asks[0].prompt
    assert code_sent(asks[0]) == "import json", ":HybridAsk without a range sends the current line only"
    assert code_sent(asks[1]) == "import os\nimport sys", ":2,3HybridAsk sends lines 2-3, as edited in Vim"
    assert broken.read_text() == (ROOT / "examples" / "broken.py").read_text(), "nothing was written to disk"
    assert elapsed < 60
