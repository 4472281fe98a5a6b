/**
 * The running server and what the extension remembers about it: the language client, the
 * diagnostics forwarder, the last interaction id, and the statistics in the status bar.
 */

import * as vscode from "vscode";
import { ExecuteCommandRequest, type LanguageClient, State } from "vscode-languageclient/node";
import { DOCUMENTS, createClient } from "./client";
import { DiagnosticsForwarder } from "./forwarding";
import { ServerCommand, type Stats } from "./protocol";
import { type ServerKey, serverLaunch } from "./settings";
import type { StatusItem } from "./status";

const REFRESH_DELAY_MS = 300;

export class HybridConnection implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private forwarder: DiagnosticsForwarder | undefined;
  private stateListener: vscode.Disposable | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private problem: string | undefined;
  /** The id of the last fix or answer the server gave, for "Reject Last Suggestion". */
  lastInteraction: string | undefined;

  constructor(
    private readonly keys: ServerKey[],
    private readonly log: vscode.LogOutputChannel,
    private readonly trace: vscode.OutputChannel,
    private readonly status: StatusItem,
  ) {}

  async start(): Promise<void> {
    const launch = serverLaunch();
    const client = createClient(launch, this.keys, { log: this.log, trace: this.trace }, {
      interaction: (id) => this.rememberInteraction(id),
      recorded: () => this.refreshSoon(),
      beginWork: () => this.status.beginWork(),
    });
    this.client = client;
    this.stateListener = client.onDidChangeState(({ newState }) => {
      if (newState === State.Stopped) {
        this.status.resetWork();
        this.status.showProblem(this.problem ?? "The server stopped. Run “Hybrid: Restart Server”.");
      }
    });
    const commandLine = [launch.command, ...launch.args].join(" ");
    this.log.info(`starting ${commandLine}`);
    try {
      await client.start();
    } catch (error) {
      this.problem = `Could not start \`${commandLine}\`: ${message(error)}. ` +
        "Set hybridLsp.server.command to the hybrid-lsp executable (for example /path/to/.venv/bin/hybrid-lsp).";
      this.log.error(this.problem);
      this.status.showProblem(this.problem);
      void vscode.window.showErrorMessage(`Hybrid LSP: ${this.problem}`, "Open Settings", "Show Log").then((choice) => {
        if (choice === "Open Settings") {
          void vscode.commands.executeCommand("workbench.action.openSettings", "hybridLsp.server");
        } else if (choice === "Show Log") {
          this.log.show();
        }
      });
      return;
    }
    this.problem = undefined;
    this.status.showProblem(undefined);
    this.log.info(`started ${commandLine}`);
    this.forwarder = new DiagnosticsForwarder(client, DOCUMENTS, this.log);
    this.refreshSoon(0);
  }

  async stop(): Promise<void> {
    this.forwarder?.dispose();
    this.forwarder = undefined;
    this.stateListener?.dispose();
    this.stateListener = undefined;
    clearTimeout(this.refreshTimer);
    const client = this.client;
    this.client = undefined;
    if (client && client.state !== State.Stopped) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.log.warn(`the server did not stop cleanly: ${message(error)}`);
      }
    }
    this.status.resetWork();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs one of the server's commands; an error names the command and says what failed. */
  async execute<T>(command: string, args: unknown[], token?: vscode.CancellationToken): Promise<T> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      throw new Error(this.problem ?? "hybrid-lsp is not running; run “Hybrid: Restart Server”.");
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token)) as T;
    } finally {
      if (command !== ServerCommand.stats) {
        this.refreshSoon();
      }
    }
  }

  rememberInteraction(id: string): void {
    this.lastInteraction = id;
    this.log.info(`last interaction: ${id}`);
  }

  /** Statistics for the status bar, fetched once the burst of activity is over. */
  refreshSoon(delay = REFRESH_DELAY_MS): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  private async refresh(): Promise<void> {
    try {
      this.status.showStats(await this.execute<Stats>(ServerCommand.stats, []));
    } catch (error) {
      this.log.warn(`statistics unavailable: ${message(error)}`);
    }
  }

  dispose(): void {
    void this.stop();
  }
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
