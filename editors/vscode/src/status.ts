/**
 * The status bar item: how much was answered without the paid API, and the tokens spent;
 * a spinner while the server reports work-done progress or an ask runs.
 */

import * as vscode from "vscode";
import type { Stats } from "./protocol";

export class StatusItem implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private busy = 0;
  private stats: Stats | undefined;
  private problem: string | undefined;

  constructor(showStatisticsCommand: string) {
    this.item = vscode.window.createStatusBarItem("hybridLsp.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Hybrid LSP";
    this.item.command = showStatisticsCommand;
    this.render();
    this.item.show();
  }

  /** Marks the start of some work; the returned function marks its end (once). */
  beginWork(): () => void {
    this.busy += 1;
    this.render();
    let ended = false;
    return () => {
      if (!ended) {
        ended = true;
        this.busy = Math.max(0, this.busy - 1);
        this.render();
      }
    };
  }

  /** Forgets every running piece of work (the server stopped). */
  resetWork(): void {
    this.busy = 0;
    this.render();
  }

  get working(): boolean {
    return this.busy > 0;
  }

  showStats(stats: Stats): void {
    this.stats = stats;
    this.problem = undefined;
    this.render();
  }

  showProblem(problem: string | undefined): void {
    this.problem = problem;
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const stats = this.stats;
    const icon = this.busy > 0 ? "$(sync~spin)" : this.problem ? "$(error)" : "$(sparkle)";
    let text = `${icon} Hybrid`;
    if (!this.problem && stats && stats.interactions > 0) {
      const tokens = stats.tokens.local + stats.tokens.remote;
      text = `${icon} ${percent(stats.share_without_remote)} local · ${compact(tokens)} tokens`;
    }
    this.item.text = text;
    this.item.tooltip = this.tooltip();
    this.item.backgroundColor = this.problem ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  private tooltip(): vscode.MarkdownString {
    const md = new vscode.MarkdownString(undefined, true);
    if (this.problem) {
      md.appendMarkdown(`**hybrid-lsp is not running**\n\n`).appendText(this.problem);
      return md;
    }
    if (this.busy > 0) {
      md.appendMarkdown("**hybrid-lsp is working…**\n\n");
    }
    const stats = this.stats;
    if (!stats || stats.interactions === 0) {
      md.appendMarkdown("No answers yet. Click for statistics.");
      return md;
    }
    md.appendMarkdown(
      `${percent(stats.share_without_remote)} of ${stats.interactions} answers came without the paid API ` +
        `(known fixes ${stats.routes.known}, local model ${stats.routes.local}, Claude ${stats.routes.remote}).\n\n` +
        `Tokens: local ${stats.tokens.local}, remote ${stats.tokens.remote}` +
        (stats.tokens.saved ? `; about ${compact(stats.tokens.saved)} saved` : "") +
        (stats.cost_usd ? ` (spent $${stats.cost_usd.remote.toFixed(2)}, saved $${stats.cost_usd.saved.toFixed(2)})` : "") +
        ".\n\n" +
        `Accepted: ${percent(stats.accept_rate)} of decided suggestions. Click for statistics.`,
    );
    return md;
  }
}

export function percent(share: number | null | undefined): string {
  return share === null || share === undefined ? "–" : `${Math.round(share * 100)}%`;
}

export function compact(count: number): string {
  if (count < 1000) {
    return String(count);
  }
  return count < 1_000_000 ? `${(count / 1000).toFixed(count < 10_000 ? 1 : 0)}k` : `${(count / 1_000_000).toFixed(1)}M`;
}
