/**
 * Forwards every extension's diagnostics of open documents to the server with
 * `hybridLsp/diagnostics`, so that hover and quick fixes answer errors that other extensions
 * publish (VS Code puts them in code action requests, but hover requests carry none).
 */

import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import { DIAGNOSTICS_NOTIFICATION } from "./protocol";

const DEBOUNCE_MS = 150;

export class DiagnosticsForwarder implements vscode.Disposable {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly client: LanguageClient,
    private readonly selector: vscode.DocumentSelector,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.subscriptions.push(
      vscode.languages.onDidChangeDiagnostics((event) => event.uris.forEach((uri) => this.schedule(uri))),
      vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document.uri)),
    );
    for (const document of vscode.workspace.textDocuments) {
      this.schedule(document.uri);
    }
  }

  private schedule(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.set(key, setTimeout(() => {
      this.pending.delete(key);
      void this.send(uri);
    }, DEBOUNCE_MS));
  }

  private async send(uri: vscode.Uri): Promise<void> {
    const key = uri.toString();
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    if (!document || vscode.languages.match(this.selector, document) === 0 || !this.client.isRunning()) {
      return;
    }
    try {
      const diagnostics = await this.client.code2ProtocolConverter.asDiagnostics(vscode.languages.getDiagnostics(uri));
      await this.client.sendNotification(DIAGNOSTICS_NOTIFICATION, {
        uri: this.client.code2ProtocolConverter.asUri(uri),
        version: document.version,
        diagnostics,
      });
      this.log.debug(`forwarded ${diagnostics.length} diagnostic(s) of ${key} (version ${document.version})`);
    } catch (error) {
      this.log.warn(`could not forward the diagnostics of ${key}: ${String(error)}`);
    }
  }

  dispose(): void {
    this.pending.forEach((timer) => clearTimeout(timer));
    this.pending.clear();
    this.subscriptions.forEach((s) => s.dispose());
  }
}
