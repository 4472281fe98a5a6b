"""hybrid-lsp in a real Emacs 28 with Eglot (Debian's emacs-nox and elpa-eglot), in batch mode.

tests/editors/emacs_test.el configures Eglot as editors/emacs/README.md says, loads
editors/emacs/hybrid-lsp.el, and prints one line per check; this wrapper gives it a copy of
examples/broken.py, its own data directory and HOME, and a loopback model server.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, base_env
from model_servers import ModelServer

SCRIPT = ROOT / "tests" / "editors" / "emacs_test.el"
ANSWER = "Use `collections.Counter` to count words."
MISSING = ("Emacs 28 with Eglot is missing: apt-get install -y emacs-nox elpa-eglot "
           "(scripts/install-editors.sh does it)")


def code_sent(seen) -> str | None:
    """The code context of an ask prompt (the server's prompt puts it in a fenced block after "Code:")."""
    found = re.search(r"Code:\n```\n(.*?)\n```", seen.prompt, re.DOTALL)
    return found.group(1) if found else None


def emacs() -> str:
    binary = shutil.which("emacs")
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    probe = subprocess.run([binary, "--batch", "--eval", "(progn (require 'eglot) (princ emacs-version))"],
                           check=False, capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or not probe.stdout.startswith("28."):
        pytest.fail(f"{MISSING}; got: {probe.stdout.strip()} {probe.stderr.strip()[-300:]}", pytrace=False)
    return binary


def test_eglot_forwards_flymake_diagnostics_applies_the_fix_by_command_hovers_and_asks(
        tmp_path: Path, model_server: ModelServer):
    binary = emacs()
    model_server.reply = lambda seen: ANSWER
    project = tmp_path / "project"
    project.mkdir()
    broken = project / "broken.py"
    shutil.copy(ROOT / "examples" / "broken.py", broken)

    env = base_env(tmp_path)
    env.update(
        HOME=str(tmp_path / "home"),
        HYBRID_LSP_LOCAL_URL=model_server.url + "/v1",
        HYBRID_TEST_EMACS_DIR=str(ROOT / "editors" / "emacs"),
        HYBRID_TEST_FILE=str(broken),
        HYBRID_TEST_CMD=json.dumps([sys.executable, "-m", "hybrid_lsp", "serve"]),
        HYBRID_TEST_ANSWER=ANSWER,
    )
    started = time.monotonic()
    result = subprocess.run([binary, "--batch", "-l", str(SCRIPT)], env=env, cwd=project,
                            stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True, timeout=55)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(f"emacs: {elapsed:.1f} s\n{output}")

    assert result.returncode == 0, output
    assert "not ok" not in output and ", 0 failed" in output, output

    asks = model_server.of("openai")
    assert [seen.body["model"] for seen in asks] == ["emacs-init-options-model", "emacs-configuration-model"]
    assert "What does line four do?" in asks[0].prompt
    assert code_sent(asks[0]) == "import json", "without a region only the current line is sent"
    assert code_sent(asks[1]) == "import os\nimport sys", "the region's lines, as edited in Emacs, are sent"
    assert elapsed < 60
