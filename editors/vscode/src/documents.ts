/**
 * Read-only Markdown documents for ask answers and statistics, shown in a preview beside the
 * editor. They live under their own URI scheme, so closing one never asks to save it.
 */

import * as vscode from "vscode";
import type { AskResult, Stats } from "./protocol";
import { percent } from "./status";

export const SCHEME = "hybrid-lsp";

export class MarkdownDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private count = 0;

  /** Shows `markdown` as a rendered preview beside the current editor (or as text without the Markdown extension). */
  async show(name: string, markdown: string): Promise<vscode.Uri> {
    this.count += 1;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${name}-${this.count}.md` });
    this.contents.set(uri.toString(), markdown);
    // "To the side" is relative to the active editor: from a code editor, so that answers and
    // statistics share one column beside the code instead of opening a new column each time.
    const code = vscode.window.activeTextEditor ? undefined : vscode.window.visibleTextEditors[0];
    if (code) {
      await vscode.window.showTextDocument(code.document, { viewColumn: code.viewColumn, preserveFocus: false });
    }
    try {
      await vscode.commands.executeCommand("markdown.showPreviewToSide", uri);
    } catch {
      const document = await vscode.workspace.openTextDocument(uri);
      await vscode.languages.setTextDocumentLanguage(document, "markdown");
      await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    }
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? "";
  }

  dispose(): void {
    this.changed.dispose();
    this.contents.clear();
  }
}

export function answerMarkdown(question: string, context: string | undefined, result: AskResult): string {
  const tokens = result.tokens.prompt + result.tokens.completion;
  const lines = [
    "# Hybrid: Ask",
    "",
    `> ${question.replace(/\n/g, "\n> ")}`,
    "",
  ];
  if (context) {
    lines.push(`<sub>with ${context} as context</sub>`, "");
  }
  lines.push(
    result.answer || "_The server gave no answer._",
    "",
    "---",
    "",
    `route: **${result.route}**` + (result.model ? ` · model ${result.model}` : "") +
      ` · ${tokens} tokens (${result.tokens.prompt} prompt + ${result.tokens.completion} completion)` +
      ` · relevance ${result.relevance.toFixed(2)}`,
    "",
    `reason: ${result.reason}`,
  );
  for (const note of result.notes ?? []) {
    lines.push("", `note: ${note}`);
  }
  lines.push("", `interaction \`${result.interaction}\`: run **Hybrid: Reject Last Suggestion** if this answer was wrong.`);
  return lines.join("\n");
}

export function statsMarkdown(stats: Stats): string {
  const rate = (route: string) => percent(stats.accept_rate_by_route?.[route]);
  const lines = [
    "# Hybrid: Statistics",
    "",
    `**${percent(stats.share_without_remote)}** of ${stats.interactions} answers came without the paid API` +
      (stats.targets?.share_without_remote !== undefined ? ` (target ${percent(stats.targets.share_without_remote)})` : "") + ".",
    "",
    "| route | answers | accepted |",
    "|---|---:|---:|",
    `| known fix | ${stats.routes.known} | ${rate("known")} |`,
    `| local model | ${stats.routes.local} | ${rate("local")} |`,
    `| Claude | ${stats.routes.remote} | ${rate("remote")} |`,
    "",
    `Fixes ${stats.fixes}, questions ${stats.asks}; accepted ${percent(stats.accept_rate)} of decided suggestions.`,
    "",
    `Tokens: local ${stats.tokens.local}, remote ${stats.tokens.remote}` +
      (stats.tokens.saved ? `; about ${stats.tokens.saved} saved by known fixes` : "") +
      (stats.cost_usd ? ` (spent $${stats.cost_usd.remote.toFixed(2)}, saved $${stats.cost_usd.saved.toFixed(2)})` : "") + ".",
    "",
    `Average relevance of local answers: ${stats.average_local_relevance ?? "–"}.`,
    "",
    "Outcomes: " + (Object.entries(stats.outcomes).map(([k, v]) => `${k} ${v}`).join(", ") || "none yet") + ".",
    "",
    "```json",
    JSON.stringify(stats, null, 2),
    "```",
  ];
  return lines.join("\n");
}
