/**
 * Hybrid LSP for VS Code: starts hybrid-lsp over stdio beside the user's other language
 * servers and forwards every extension's diagnostics to it, so its quick fixes and hovers answer
 * them all.
 */

import * as vscode from "vscode";
import { Command, registerCommands } from "./commands";
import { HybridConnection } from "./connection";
import { MarkdownDocuments, SCHEME } from "./documents";
import { launchChanged, serverKeys } from "./settings";
import { StatusItem } from "./status";

let connection: HybridConnection | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel("Hybrid LSP", { log: true });
  const trace = vscode.window.createOutputChannel("Hybrid LSP Trace");
  const status = new StatusItem(Command.showStatistics);
  const documents = new MarkdownDocuments();
  connection = new HybridConnection(serverKeys(context.extension.packageJSON), log, trace, status);
  const current = connection;

  context.subscriptions.push(
    log,
    trace,
    status,
    documents,
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, documents),
    ...registerCommands(current, documents, status, log),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (launchChanged(event)) {
        log.info("hybridLsp.server changed: restarting the server");
        void current.restart();
      }
    }),
  );
  await current.start();
}

export async function deactivate(): Promise<void> {
  await connection?.stop();
  connection = undefined;
}
