#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (test/e2e/run.mjs) needs, idempotently, on a Debian
# machine with Node 20 that reaches only package registries (Debian, npm):
#   - Debian: chromium (driven by playwright-core), ripgrep (VS Code's search; its npm package
#     would download it), and the toolchain and headers for code-server's native modules;
#   - npm: the extension's dependencies, and code-server + playwright-core pinned in
#     test/e2e/package-lock.json, installed with --ignore-scripts: code-server's postinstall
#     would download ripgrep and prebuilt binaries, so its steps are redone here from source;
#   - the two .vsix files: the extension (editors/vscode/hybrid-lsp.vsix) and the test's Ruff stub.
# A step already done (same lock files) is skipped; the .vsix files are always rebuilt.
set -euo pipefail

vscode_dir="$(cd "$(dirname "$0")/.." && pwd)"
e2e="$vscode_dir/test/e2e"
started=$SECONDS

step() { printf '== [%3ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() { printf 'setup-test.sh: %s\n' "$*" >&2; exit 1; }

# Debian packages -------------------------------------------------------------------------------
packages=(chromium ripgrep build-essential pkg-config python3 libkrb5-dev libxkbfile-dev libsecret-1-dev)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  # Another apt-get may hold the lock (other editor tests install theirs too): wait for it.
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
else
  step "Debian packages present"
fi

command -v node >/dev/null || fail "node is not installed: code-server 4.100 needs Node 20"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" = 20 ] || fail "code-server 4.100 needs Node 20, this is $(node --version)"
# node-gyp builds against the installed Node's headers instead of downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi

# Installs npm dependencies from the lock file unless the same lock file was installed already.
npm_ci() {
  local dir="$1" stamp="$1/node_modules/.hybrid-lsp-setup"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    step "npm dependencies of ${dir#"${vscode_dir%/*/*}"/} present"
    return
  fi
  step "npm ci in ${dir#"${vscode_dir%/*/*}"/}"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

npm_ci "$vscode_dir"
npm_ci "$e2e"

# code-server's postinstall, offline ----------------------------------------------------------
code_server="$e2e/node_modules/code-server"
vscode_lib="$code_server/lib/vscode"
stamp="$code_server/.hybrid-lsp-setup"
want="$(cat "$e2e/node_modules/.hybrid-lsp-setup")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "code-server's native modules present"
else
  step "code-server: argon2 from source"
  (cd "$e2e" && npm_config_build_from_source=true npm rebuild argon2 --loglevel=error)
  step "code-server: VS Code's dependencies (npm-shrinkwrap.json)"
  (cd "$vscode_lib" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  step "code-server: native modules from source"
  # node-pty's postinstall runs `npx node-gyp` for an optional compile_commands.json.
  (cd "$vscode_lib" && npm_config_yes=true npm rebuild @vscode/spdlog @vscode/deviceid native-watchdog node-pty --loglevel=error)
  (cd "$vscode_lib" && npm_config_build_from_source=true npm rebuild kerberos --loglevel=error)
  # @vscode/ripgrep's postinstall downloads rg; use Debian's.
  mkdir -p "$vscode_lib/node_modules/@vscode/ripgrep/bin"
  ln -sf "$(command -v rg)" "$vscode_lib/node_modules/@vscode/ripgrep/bin/rg"
  ln -sfn node_modules "$vscode_lib/node_modules.asar"
  ln -sf code-linux.sh "$vscode_lib/bin/remote-cli/code-server"
  ln -sf browser-linux.sh "$vscode_lib/bin/helpers/browser.sh"
  step "code-server: built-in extensions' dependencies"
  (cd "$vscode_lib/extensions" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && node postinstall.mjs >/dev/null)
  for module in spdlog.node pty.node watchdog.node kerberos.node; do
    find "$vscode_lib/node_modules" -name "$module" -path '*/Release/*' | grep -q . || fail "code-server: $module was not built"
  done
  echo "$want" >"$stamp"
fi
"$e2e/node_modules/.bin/code-server" --version >/dev/null || fail "code-server does not start"

# The extensions under test -------------------------------------------------------------------
step "package hybrid-lsp.vsix"
(cd "$vscode_dir" && npm run --silent package >/dev/null)
step "package the Ruff stub"
(cd "$e2e/ruff-stub" && "$vscode_dir/node_modules/.bin/vsce" package --allow-missing-repository --skip-license -o ruff-stub.vsix >/dev/null)
step "ready: node editors/vscode/test/e2e/run.mjs"
