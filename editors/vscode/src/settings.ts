/**
 * Settings under `hybridLsp.*`: how to start the server, and what to tell it.
 *
 * Only values the user actually set are sent to the server. Sending VS Code's defaults would
 * override the server's own sources (its config file and environment, such as
 * HYBRID_LSP_LOCAL_URL), which rank below the editor's settings.
 */

import * as vscode from "vscode";

export const SECTION = "hybridLsp";

/** Keys read by the extension itself; the server would report them as unknown settings. */
const CLIENT_ONLY = ["server.", "trace."];

export interface ServerLaunch {
  command: string;
  args: string[];
}

export function serverLaunch(): ServerLaunch {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = config.get<string>("server.command", "hybrid-lsp").trim() || "hybrid-lsp";
  const args = config.get<unknown[]>("server.args", []).filter((a): a is string => typeof a === "string");
  return { command, args };
}

/** Whether a configuration change needs the server process started again. */
export function launchChanged(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(`${SECTION}.server`);
}

export interface ServerKey {
  /** The key below `hybridLsp.`, e.g. "local.baseUrl". */
  key: string;
  /** Machine-scoped keys are read from user settings only, so a workspace cannot redirect code. */
  userOnly: boolean;
}

interface Manifest {
  contributes?: { configuration?: { properties?: Record<string, { scope?: string }> } };
}

/** The server's setting keys, from this extension's manifest (one list to keep in step with README). */
export function serverKeys(manifest: Manifest): ServerKey[] {
  const properties = manifest.contributes?.configuration?.properties ?? {};
  return Object.entries(properties)
    .filter(([key]) => key.startsWith(`${SECTION}.`))
    .map(([key, schema]) => ({
      key: key.slice(SECTION.length + 1),
      userOnly: schema.scope === "machine" || schema.scope === "application",
    }))
    .filter(({ key }) => !CLIENT_ONLY.some((prefix) => key.startsWith(prefix)));
}

/** The explicitly set server settings, nested the way the server reads them ({local: {baseUrl}}). */
export function explicitSettings(keys: ServerKey[], scope?: vscode.Uri): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION, scope ?? null);
  const settings: Record<string, unknown> = {};
  for (const { key, userOnly } of keys) {
    const seen = config.inspect(key);
    const value = userOnly ? seen?.globalValue : (seen?.workspaceFolderValue ?? seen?.workspaceValue ?? seen?.globalValue);
    if (value !== undefined) {
      setPath(settings, key.split("."), value);
    }
  }
  return settings;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    node = (typeof next === "object" && next !== null ? next : (node[part] = {})) as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
