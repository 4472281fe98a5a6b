/**
 * The language client for hybrid-lsp: stdio, settings, and the middleware that watches what
 * the server answers (interaction ids for "Reject Last Suggestion", work-done progress for the
 * status bar spinner).
 */

import * as vscode from "vscode";
import {
  type ClientCapabilities,
  type ConfigurationParams,
  type FeatureState,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
  type StaticFeature,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { ProgressPart } from "vscode-languageclient/lib/common/progressPart";
import { INTERACTION_COMMANDS, ServerCommand } from "./protocol";
import { SECTION, type ServerKey, type ServerLaunch, explicitSettings } from "./settings";

/** Every file and unsaved buffer, whatever its language: the server answers any tool's diagnostics. */
export const DOCUMENTS: vscode.DocumentSelector = [{ scheme: "file" }, { scheme: "untitled" }];

export interface ClientEvents {
  /** A resolved quick fix, or an ask, produced an interaction the user may reject later. */
  interaction(id: string): void;
  /** The server recorded something; statistics are worth refreshing. */
  recorded(): void;
  /** The server started work-done progress; call the returned function when it ends. */
  beginWork(): () => void;
}

export function createClient(
  launch: ServerLaunch,
  keys: ServerKey[],
  channels: { log: vscode.OutputChannel; trace: vscode.OutputChannel },
  events: ClientEvents,
): LanguageClient {
  // stdio without `transport`: TransportKind.stdio would append a `--stdio` argument.
  const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENTS as LanguageClientOptions["documentSelector"],
    synchronize: { configurationSection: SECTION },
    initializationOptions: () => ({ [SECTION]: explicitSettings(keys) }),
    outputChannel: channels.log,
    traceOutputChannel: channels.trace,
    middleware: middleware(keys, events),
  };
  const client = new LanguageClient("hybridLsp", "Hybrid LSP", serverOptions, clientOptions);
  client.registerFeature(new ProgressSpinner(client, events));
  return client;
}

function middleware(keys: ServerKey[], events: ClientEvents): Middleware {
  return {
    async resolveCodeAction(item, token, next) {
      const resolved = await next(item, token);
      const command = resolved?.command;
      const id = command && INTERACTION_COMMANDS.has(command.command) ? command.arguments?.[0] : undefined;
      if (typeof id === "string") {
        events.interaction(id);
      }
      events.recorded();
      return resolved;
    },
    async executeCommand(command, args, next) {
      const result = await next(command, args);
      if (command !== ServerCommand.stats) {
        events.recorded();
      }
      return result;
    },
    workspace: {
      // VS Code's own answer would include every default, which outranks the server's environment.
      async configuration(params: ConfigurationParams, token, next) {
        const ours = (section?: string) => section === SECTION;
        const others = params.items.some((item) => !ours(item.section)) ? await next(params, token) : [];
        if (others instanceof Error) {
          return others;
        }
        return params.items.map((item, index) =>
          ours(item.section)
            ? explicitSettings(keys, item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
            : (others as unknown[])[index] ?? null,
        );
      },
    },
  };
}

/**
 * Shows the server's work-done progress as VS Code does (a window progress with a cancel button)
 * and also tells the status bar, which the client alone has no hook for. Registered after the
 * built-in features, so its handler for window/workDoneProgress/create is the one in force.
 */
class ProgressSpinner implements StaticFeature {
  private readonly parts = new Map<ProgressPart, () => void>();

  constructor(
    private readonly client: LanguageClient,
    private readonly events: ClientEvents,
  ) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const end = this.events.beginWork();
      const part = new ProgressPart(this.client, token, (finished) => {
        this.parts.delete(finished);
        end();
      });
      this.parts.set(part, end);
    });
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {
    for (const [part, end] of this.parts) {
      part.done();
      end();
    }
    this.parts.clear();
  }
}
