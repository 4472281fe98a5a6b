#!/usr/bin/env node
// End-to-end test of the packaged extension in real VS Code (code-server), driven in headless
// Chromium: a Ruff diagnostic published by another extension gets a hover explanation and a
// "known fix, 0 tokens" quick fix from hybrid-lsp; "Hybrid: Ask" reaches a loopback model.
//
// Prerequisites: editors/vscode/scripts/setup-test.sh. Exits non-zero on any failed check.
// Environment: HYBRID_LSP_COMMAND (default <repo>/.venv/bin/hybrid-lsp), PYTHON (default
// <repo>/.venv/bin/python), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default
// editors/vscode/test-artifacts), E2E_DEADLINE (seconds, default 300). For debugging:
// HYBRID_LSP_TRACE=verbose, HYBRID_LSP_LOG=DEBUG (the server's stderr, in the kept logs),
// E2E_PAUSE_ON_FAILURE=SECONDS and E2E_DEBUG_PORT=PORT (attach with chromium.connectOverCDP),
// E2E_EXTRA_SETTINGS='{"hybridLsp.…": …}' (added to VS Code's user settings).

import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const extensionDir = resolve(here, "../..");
const repo = resolve(extensionDir, "../..");
const artifacts = resolve(process.env.ARTIFACTS ?? join(extensionDir, "test-artifacts"));
const serverCommand = process.env.HYBRID_LSP_COMMAND ?? join(repo, ".venv/bin/hybrid-lsp");
const python = process.env.PYTHON ?? join(repo, ".venv/bin/python");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const codeServer = join(here, "node_modules/.bin/code-server");
const vsixes = [join(extensionDir, "hybrid-lsp.vsix"), join(here, "ruff-stub/ruff-stub.vsix")];

const BROKEN = `import os
import sys


def main() -> None:
    print(sys.argv[1:])


if __name__ == "__main__":
    main()
`;
const QUESTION = "What does this line print?";
// Set in VS Code's user settings: reaches the server only through the extension.
const MODEL = "model-from-vscode-settings";

const started = Date.now();
const results = [];
const state = { children: [], browser: undefined, keepLogs: undefined, tmp: undefined };
let page;
let shot = 0;

function elapsed() {
  return `${((Date.now() - started) / 1000).toFixed(1)}s`;
}

function log(message) {
  console.log(`[${elapsed()}] ${message}`);
}

async function screenshot(name) {
  if (!page) return;
  await page.waitForTimeout(400); // let hovers, menus and toasts finish fading in
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file }).catch((error) => log(`screenshot ${name} failed: ${error.message}`));
  log(`screenshot ${file}`);
}

/** Runs one named check; a failure is recorded with a screenshot and stops the run. */
async function check(name, body) {
  const t0 = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (error) {
    results.push({ name, ok: false, error });
    log(`FAIL ${name}: ${error.stack ?? error}`);
    await screenshot(`failure-${name.replace(/\W+/g, "-").toLowerCase()}`);
    keepLogs();
    throw new StopRun();
  }
}

class StopRun extends Error {}

/** Copies the editor's logs (code-server, extension host, output channels) next to the screenshots. */
function keepLogs() {
  try {
    state.keepLogs?.();
  } catch (error) {
    log(`could not keep the logs: ${error.message}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function until(description, probe, { timeout = 30_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout / 1000}s waiting for ${description}${last ? ` (last error: ${last.message})` : ""}`);
}

async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  return port;
}

/** Starts a process in its own group, so that cleanup ends it and everything it started. */
function start(command, args, options) {
  const child = spawn(command, args, { ...options, detached: true });
  state.children.push(child);
  return child;
}


async function startModelServer() {
  const child = start(python, [join(here, "model_server.py"), "--delay", "2"], { stdio: ["pipe", "pipe", "inherit"] });
  const requests = [];
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolveReady, reject) => {
    child.once("exit", (code) => reject(new Error(`the model server exited (${code})`)));
    lines.on("line", (line) => {
      const message = JSON.parse(line);
      if (message.url) resolveReady(message);
      else requests.push(message);
    });
  });
  const { url, answer } = await ready;
  return { url, answer, requests };
}

async function main() {
  await check("the editor, the browser, the server and the .vsix files are installed", async () => {
    const missing = [serverCommand, python, chromiumPath, codeServer, ...vsixes].filter((p) => !existsSync(p));
    assert(missing.length === 0, `missing ${missing.join(", ")}: run editors/vscode/scripts/setup-test.sh ` +
      "(and create the project's venv: see README.md)");
  });
  mkdirSync(artifacts, { recursive: true });
  for (const name of readdirSync(artifacts)) {
    if (/^\d\d-.*\.png$|^code-server\.log$|^browser-console\.log$|^logs$/.test(name)) rmSync(join(artifacts, name), { recursive: true, force: true });
  }
  const tmp = mkdtempSync(join(tmpdir(), "hybrid-lsp-vscode-e2e-"));
  state.tmp = tmp;
  const userData = join(tmp, "user-data");
  const extensions = join(tmp, "extensions");
  const workspace = join(tmp, "workspace");
  const dataDir = join(tmp, "hybrid-lsp-data");
  mkdirSync(join(userData, "User"), { recursive: true });
  mkdirSync(workspace);
  const file = join(workspace, "app.py");
  writeFileSync(file, BROKEN);
  log(`artifacts: ${artifacts}`);
  log(`scratch: ${tmp}`);

  const model = await startModelServer();
  log(`loopback model at ${model.url}`);

  // Everything the editor and the server write stays in the scratch directory.
  const env = {
    ...process.env,
    HOME: join(tmp, "home"),
    XDG_CONFIG_HOME: join(tmp, "xdg-config"),
    XDG_DATA_HOME: join(tmp, "xdg-data"),
    XDG_CACHE_HOME: join(tmp, "xdg-cache"),
    HYBRID_LSP_DATA_DIR: dataDir,
    HYBRID_LSP_CONFIG: join(tmp, "no-such-config.toml"),
    HYBRID_LSP_LOCAL_URL: `${model.url}/v1`,
  };
  for (const key of ["HYBRID_LSP_LOCAL_MODEL", "HYBRID_LSP_POLICY", "HYBRID_LSP_NO_STARTER", "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL", "VSCODE_IPC_HOOK_CLI"]) {
    delete env[key];
  }
  const common = ["--user-data-dir", userData, "--extensions-dir", extensions];

  await check("the packaged extensions install into code-server", async () => {
    const install = spawnSync(codeServer, [...common, ...vsixes.flatMap((v) => ["--install-extension", v])],
      { env, encoding: "utf8", timeout: 120_000 });
    assert(install.status === 0, `code-server --install-extension exited ${install.status}: ${install.stdout}${install.stderr}`);
    const list = spawnSync(codeServer, [...common, "--list-extensions", "--show-versions"],
      { env, encoding: "utf8", timeout: 60_000 });
    assert(/hybrid-lsp\.hybrid-lsp@/.test(list.stdout) && /hybrid-lsp-test\.ruff-stub@/.test(list.stdout), `not listed: ${list.stdout}`);
  });

  writeFileSync(join(userData, "User/settings.json"), JSON.stringify({
    "hybridLsp.server.command": serverCommand,
    // The local model's address comes from the environment (HYBRID_LSP_LOCAL_URL): the extension
    // must not override it with the setting's default.
    "hybridLsp.local.model": MODEL,
    "hybridLsp.trace.server": process.env.HYBRID_LSP_TRACE ?? "messages",
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "security.workspace.trust.enabled": false,
    "extensions.ignoreRecommendations": true,
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "chat.commandCenter.enabled": false,
    "editor.hover.delay": 200,
    "editor.minimap.enabled": false,
    "files.autoSave": "off",
    ...JSON.parse(process.env.E2E_EXTRA_SETTINGS ?? "{}"),
  }, null, 2));

  const port = await freePort();
  const editor = start(codeServer, [
    ...common,
    "--auth", "none",
    "--bind-addr", `127.0.0.1:${port}`,
    "--config", join(tmp, "code-server.yaml"),
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--disable-getting-started-override",
    "--ignore-last-opened",
    workspace,
  ], { env, stdio: ["ignore", "pipe", "pipe"] });
  const editorOutput = [];
  editor.stdout.on("data", (d) => editorOutput.push(d));
  editor.stderr.on("data", (d) => editorOutput.push(d));
  state.keepLogs = () => {
    writeFileSync(join(artifacts, "code-server.log"), Buffer.concat(editorOutput));
    cpSync(join(userData, "logs"), join(artifacts, "logs"), { recursive: true });
  };

  await check("code-server serves VS Code", async () => {
    await until("code-server to listen", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { timeout: 60_000 });
  });

  state.browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ...(process.env.E2E_DEBUG_PORT ? [`--remote-debugging-port=${process.env.E2E_DEBUG_PORT}`] : [])],
  });
  const context = await state.browser.newContext({ viewport: { width: 1400, height: 860 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const consoleLines = [];
  page.on("console", (message) => consoleLines.push(`[${message.type()}] ${message.text()}`));
  const keepEditorLogs = state.keepLogs;
  state.keepLogs = () => {
    writeFileSync(join(artifacts, "browser-console.log"), consoleLines.join("\n"));
    keepEditorLogs();
  };

  await check("the workbench opens the workspace", async () => {
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
    await page.locator(".explorer-folders-view").getByText("app.py").waitFor({ timeout: 60_000 });
  });

  const palette = page.locator(".quick-input-widget");
  async function runCommand(title) {
    await page.keyboard.press("F1");
    const input = palette.locator("input");
    await input.waitFor();
    await input.fill(`>${title}`);
    await palette.locator(".monaco-list-row", { hasText: title }).first().waitFor();
    await page.keyboard.press("Enter");
  }
  const status = page.locator('.statusbar-item[id$="hybridLsp.status"]');
  await check("the extension shows its status bar item", async () => {
    await status.waitFor({ timeout: 60_000 });
    const text = await status.innerText();
    assert(text.includes("Hybrid"), `unexpected status bar text: ${text}`);
  });

  const editorLines = page.locator(".editor-group-container .monaco-editor .view-lines").first();
  const squiggle = page.locator(".editor-group-container .monaco-editor .squiggly-warning").first();
  async function squiggleCenter() {
    const box = await until("the squiggle's position", async () => {
      await squiggle.waitFor();
      return squiggle.boundingBox();
    }, { timeout: 10_000 });
    return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  }
  await check("the other extension's Ruff F401 warning is squiggled under `os`", async () => {
    await page.locator(".explorer-folders-view").getByText("app.py").click();
    await editorLines.waitFor();
    await squiggle.waitFor({ timeout: 30_000 });
    const box = await squiggle.boundingBox();
    const osWord = await page.locator(".view-line span", { hasText: /^os$/ }).first().boundingBox();
    assert(box && osWord && Math.abs(box.x - osWord.x) < 4,
      `the squiggle is not under \`os\` (${JSON.stringify(box)} vs ${JSON.stringify(osWord)})`);
  });
  await screenshot("squiggle");

  await check("hovering the warning shows hybrid-lsp's stored solution", async () => {
    await page.locator(".view-line", { hasText: "def main" }).click(); // into the editor, away from the warning
    const text = await until("the hybrid-lsp hover", async () => {
      // A hover computed before the server was ready stays up while the mouse comes back
      // within editor.hover.hidingDelay; close it before hovering again.
      await page.mouse.move(700, 600);
      await page.keyboard.press("Escape");
      await page.locator(".monaco-hover:visible").first().waitFor({ state: "hidden", timeout: 5_000 }).catch(() => {});
      const at = await squiggleCenter();
      await page.mouse.move(at.x, at.y);
      return until("the hover to show hybrid-lsp's part", async () => {
        const shown = (await page.locator(".monaco-hover:visible").allInnerTexts()).join("\n");
        return shown.includes("hybrid-lsp") && shown.includes("ruff:F401") ? shown : null;
      }, { timeout: 4_000 }).catch(() => null);
    }, { timeout: 45_000, interval: 500 });
    assert(text.includes("imported but nothing in the file refers to it"), `the hover lacks the stored solution:\n${text}`);
    assert(/stored solution\s+ruff:F401/.test(text), `the hover does not name the stored solution:\n${text}`);
    assert(/route: known/.test(text), `the hover does not say the route is known:\n${text}`);
  });
  await screenshot("hover");

  const fixTitle = "Hybrid: Remove the unused import (known fix, 0 tokens)";
  const menuItem = page.locator(".action-widget .monaco-list-row", { hasText: fixTitle });
  await check("Ctrl+. offers the known fix", async () => {
    await page.mouse.move(700, 600);
    await page.keyboard.press("Escape");
    const at = await squiggleCenter();
    await page.mouse.click(at.x, at.y);
    await until("the quick-fix menu", async () => {
      if (!(await menuItem.isVisible())) {
        await page.keyboard.press("Escape");
        await page.keyboard.press("Control+.");
        await menuItem.waitFor({ timeout: 3_000 });
      }
      return true;
    }, { timeout: 30_000, interval: 500 });
  });
  await screenshot("quick-fix-menu");

  await check("applying the known fix removes `import os` in the editor", async () => {
    // The menu takes the keyboard: the first quick fix is focused, Enter applies it.
    await page.locator(".action-widget .monaco-list-row.focused", { hasText: fixTitle }).waitFor();
    await page.keyboard.press("Enter");
    await until("`import os` to leave the editor", async () => {
      const text = await editorLines.innerText();
      return !/import\s+os/.test(text) && /import\s+sys/.test(text);
    }, { timeout: 15_000 });
  });

  await check("saving writes the fixed file to disk", async () => {
    await page.keyboard.press("Control+s");
    await until("app.py on disk to lose `import os`", async () => !readFileSync(file, "utf8").includes("import os"));
    const saved = readFileSync(file, "utf8");
    assert(saved === BROKEN.replace("import os\n", ""), `unexpected file content:\n${saved}`);
    await page.locator(".monaco-editor .squiggly-warning").waitFor({ state: "detached", timeout: 10_000 });
  });

  await check("the status bar counts the fix: 100% local, 0 tokens", async () => {
    await until("the status bar statistics", async () => /100% local · 0 tokens/.test(await status.innerText()), { timeout: 15_000 });
  });

  await check("the server reported no problem (settings are sent without the extension's own keys)", async () => {
    await runCommand("Notifications: Show Notifications");
    const center = page.locator(".notifications-center");
    await center.waitFor();
    const messages = await center.locator(".notification-list-item").allInnerTexts();
    await page.keyboard.press("Escape");
    const problems = messages.filter((m) => /hybrid-lsp|Hybrid LSP/i.test(m));
    assert(problems.length === 0, `messages from the server or the client:\n${problems.join("\n")}`);
  });
  await screenshot("fixed-and-saved");

  async function frameWith(text, timeout = 30_000) {
    return until(`a preview showing “${text}”`, async () => {
      for (const frame of page.frames().filter((f) => f !== page.mainFrame())) { // webviews only
        const body = await frame.evaluate(() => document.body?.innerText ?? "").catch(() => "");
        if (body.includes(text)) return body;
      }
      return null;
    }, { timeout });
  }

  await check("Hybrid: Ask sends the question and the current line to the local model set in VS Code", async () => {
    await page.locator(".view-line", { hasText: "print(sys.argv" }).click();
    await runCommand("Hybrid: Ask");
    await palette.locator(".quick-input-title", { hasText: "Hybrid: Ask" }).waitFor();
    await palette.locator("input").fill(QUESTION);
    await page.keyboard.press("Enter");
    await status.locator(".codicon-sync.codicon-modifier-spin").waitFor({ timeout: 10_000 });
    await screenshot("ask-running");
    const preview = await frameWith("LOOPBACK ANSWER");
    assert(preview.includes(QUESTION), `the answer preview does not show the question:\n${preview}`);
    assert(preview.includes("with app.py:5 as context"), `the answer does not name its context:\n${preview}`);
    assert(preview.includes(`route: local · model ${MODEL}`), `the answer does not name its route:\n${preview}`);
    assert(model.requests.length === 1, `expected one model request, got ${model.requests.length}`);
    const [request] = model.requests;
    assert(request.protocol === "openai", `the request spoke ${request.protocol}`);
    assert(request.model === MODEL, `the request asked for model ${request.model}, not hybridLsp.local.model ${MODEL}`);
    assert(request.prompt.includes(QUESTION), `the prompt lacks the question:\n${request.prompt}`);
    assert(request.prompt.includes("print(sys.argv[1:])"), `the prompt lacks the current line:\n${request.prompt}`);
    await status.locator(".codicon-modifier-spin").waitFor({ state: "detached", timeout: 10_000 });
  });
  await screenshot("ask-answer");

  await check("Hybrid: Show Statistics shows the accepted fix and the answer", async () => {
    await runCommand("Hybrid: Show Statistics");
    const body = await frameWith("Hybrid: Statistics");
    assert(/Fixes 1, questions 1/.test(body), `unexpected statistics:\n${body}`);
    assert(/(accepted|validated) 1/.test(body), `the applied fix was not recorded as accepted:\n${body}`);
  });
  await screenshot("statistics");

  await check("Hybrid: Reject Last Suggestion rejects the answer", async () => {
    await runCommand("Hybrid: Reject Last Suggestion");
    await palette.locator(".quick-input-title", { hasText: "Reject Last Suggestion" }).waitFor();
    await palette.locator("input").fill("not what I asked");
    await page.keyboard.press("Enter");
    await page.locator(".notification-toast", { hasText: "rejected" }).first().waitFor();
  });
  await screenshot("rejected");

  // The server owns its data directory while it runs; read the history once the editor is gone.
  await closeEditor();
  await check("the server's history holds the applied fix and the rejected answer", async () => {
    const history = spawnSync(serverCommand, ["history", "--json"], { env, encoding: "utf8", timeout: 60_000 });
    assert(history.status === 0, `hybrid-lsp history exited ${history.status}: ${history.stderr}`);
    const items = history.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const fix = items.find((i) => i.kind === "fix");
    const ask = items.find((i) => i.kind === "ask");
    assert(items.length === 2 && fix && ask, `expected one fix and one ask:\n${history.stdout}`);
    // "validated": applied, and the diagnostic went away (the Ruff stub re-linted the file).
    assert(fix.route === "known" && ["accepted", "validated"].includes(fix.outcome), `the fix: ${JSON.stringify(fix)}`);
    assert(ask.route === "local" && ask.outcome === "rejected" && ask.reject_reason === "not what I asked", `the ask: ${JSON.stringify(ask)}`);
  });
}

/** Closes the browser and stops code-server (and the language server it started). */
async function closeEditor() {
  await state.browser?.close().catch(() => {});
  state.browser = undefined;
  page = undefined;
  for (const child of state.children.splice(1)) {
    await stop(child);
  }
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try { process.kill(-child.pid, "SIGTERM"); } catch { return; }
  const exited = once(child, "exit");
  const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }, 5_000);
  await exited;
  clearTimeout(timer);
}

// A test runner's timeout or Ctrl+C must not leave code-server, hybrid-lsp or the model behind.
const deadlineSeconds = Number(process.env.E2E_DEADLINE ?? 300);
function abort(why) {
  log(`stopping: ${why}`);
  keepLogs();
  for (const child of state.children) {
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* already gone */ }
  }
  if (state.tmp) rmSync(state.tmp, { recursive: true, force: true });
  console.log(`vscode-e2e: ${results.filter((r) => r.ok).length} passed, ${results.filter((r) => !r.ok).length + 1} failed`);
  process.exit(1);
}
process.on("SIGTERM", () => abort("SIGTERM"));
process.on("SIGINT", () => abort("SIGINT"));
setTimeout(() => abort(`the whole test took more than ${deadlineSeconds}s (E2E_DEADLINE)`), deadlineSeconds * 1000).unref();

let exitCode = 0;
try {
  await main();
} catch (error) {
  if (!(error instanceof StopRun)) {
    results.push({ name: "the test itself", ok: false, error });
    log(`ERROR ${error.stack ?? error}`);
    await screenshot("failure-error");
    keepLogs();
  }
} finally {
  if (process.env.E2E_PAUSE_ON_FAILURE && results.some((r) => !r.ok)) {
    log(`pausing ${process.env.E2E_PAUSE_ON_FAILURE}s for inspection`);
    await new Promise((r) => setTimeout(r, Number(process.env.E2E_PAUSE_ON_FAILURE) * 1000));
  }
  await closeEditor();
  for (const child of state.children.splice(0)) {
    await stop(child);
  }
  const failed = results.filter((r) => !r.ok);
  exitCode = failed.length || results.length === 0 ? 1 : 0;
  if (state.tmp) {
    rmSync(state.tmp, { recursive: true, force: true }); // what explains a failure was copied to artifacts
  }
  log(`screenshots${failed.length ? " and logs" : ""} in ${artifacts}`);
  console.log(`vscode-e2e: ${results.length - failed.length} passed, ${failed.length} failed`);
}
process.exit(exitCode);
