/**
 * Palette commands. Their ids differ from the server's (hybridLsp.ask, …), which the language
 * client registers itself as VS Code commands that forward to the server.
 */

import * as vscode from "vscode";
import type { HybridConnection } from "./connection";
import { message } from "./connection";
import { MarkdownDocuments, answerMarkdown, statsMarkdown } from "./documents";
import { type AskResult, type OutcomeResult, ServerCommand, type Stats } from "./protocol";
import type { StatusItem } from "./status";

export const Command = {
  ask: "hybridLsp.askQuestion",
  showStatistics: "hybridLsp.showStatistics",
  rejectLast: "hybridLsp.rejectLastSuggestion",
  restart: "hybridLsp.restartServer",
  showLog: "hybridLsp.showLog",
} as const;

export function registerCommands(
  connection: HybridConnection,
  documents: MarkdownDocuments,
  status: StatusItem,
  log: vscode.LogOutputChannel,
): vscode.Disposable[] {
  const guarded = (name: string, run: () => Promise<void>) => async () => {
    try {
      await run();
    } catch (error) {
      log.error(`${name}: ${message(error)}`);
      void vscode.window.showErrorMessage(`Hybrid: ${name} failed: ${message(error)}`);
    }
  };

  return [
    vscode.commands.registerCommand(Command.ask, guarded("Ask", () => ask(connection, documents, status))),
    vscode.commands.registerCommand(Command.showStatistics, guarded("Show Statistics", async () => {
      const stats = await connection.execute<Stats>(ServerCommand.stats, []);
      status.showStats(stats);
      await documents.show("statistics", statsMarkdown(stats));
    })),
    vscode.commands.registerCommand(Command.rejectLast, guarded("Reject Last Suggestion", () => rejectLast(connection))),
    vscode.commands.registerCommand(Command.restart, guarded("Restart Server", () => connection.restart())),
    vscode.commands.registerCommand(Command.showLog, () => log.show()),
  ];
}

async function ask(connection: HybridConnection, documents: MarkdownDocuments, status: StatusItem): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const target = editor && ["file", "untitled"].includes(editor.document.uri.scheme) ? editor : undefined;
  const selection = target?.selection;
  const range = selection && !selection.isEmpty
    ? new vscode.Range(selection.start, selection.end)
    : selection && target.document.lineAt(selection.active.line).range;
  const context = target && range
    ? `${vscode.workspace.asRelativePath(target.document.uri)}:${range.start.line + 1}` +
      (range.end.line > range.start.line ? `-${range.end.line + 1}` : "")
    : undefined;
  const question = await vscode.window.showInputBox({
    title: "Hybrid: Ask",
    prompt: context ? `Ask about ${context} (the selection, or the current line, is sent as context)` : "Ask a question",
    placeHolder: "Why is this slow? How do I …?",
    ignoreFocusOut: true,
  });
  if (!question?.trim()) {
    return;
  }
  const args: unknown[] = [question];
  if (target && range) {
    args.push(target.document.uri.toString(), {
      start: { line: range.start.line, character: range.start.character },
      end: { line: range.end.line, character: range.end.character },
    });
  }
  const end = status.beginWork();
  let result: AskResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Hybrid: asking…", cancellable: true },
      (_progress, token) => connection.execute<AskResult>(ServerCommand.ask, args, token),
    );
  } finally {
    end();
  }
  if (result.interaction) {
    connection.rememberInteraction(result.interaction);
  }
  await documents.show("answer", answerMarkdown(question, context, result));
}

async function rejectLast(connection: HybridConnection): Promise<void> {
  const id = connection.lastInteraction;
  if (!id) {
    void vscode.window.showInformationMessage("Hybrid: no suggestion to reject yet (apply a Hybrid quick fix or ask first).");
    return;
  }
  const reason = await vscode.window.showInputBox({
    title: "Hybrid: Reject Last Suggestion",
    prompt: `Why was ${id} wrong? (optional; Escape cancels)`,
    ignoreFocusOut: true,
  });
  if (reason === undefined) {
    return;
  }
  const result = await connection.execute<OutcomeResult>(ServerCommand.reject, reason.trim() ? [id, reason.trim()] : [id]);
  void vscode.window.showInformationMessage(`Hybrid: recorded the last suggestion as ${result.outcome}.`);
}
