/** What hybrid-lsp speaks beyond standard LSP, as documented in the repository's README. */

export const DIAGNOSTICS_NOTIFICATION = "hybridLsp/diagnostics";

/** Commands the server executes (workspace/executeCommand). */
export const ServerCommand = {
  ask: "hybridLsp.ask",
  accept: "hybridLsp.accept",
  reject: "hybridLsp.reject",
  stats: "hybridLsp.stats",
  explain: "hybridLsp.explain",
} as const;

/** Server commands whose single first argument is an interaction id. */
export const INTERACTION_COMMANDS: ReadonlySet<string> = new Set([ServerCommand.accept, ServerCommand.explain]);

export interface AskResult {
  answer: string;
  route: string;
  model: string;
  tokens: { prompt: number; completion: number };
  relevance: number;
  reason: string;
  notes: string[];
  interaction: string;
  has_edit: boolean;
}

export interface OutcomeResult {
  interaction: string;
  outcome: string;
}

export interface Stats {
  interactions: number;
  fixes: number;
  asks: number;
  routes: { known: number; local: number; remote: number };
  share_without_remote: number | null;
  accept_rate: number | null;
  accept_rate_by_route: Record<string, number | null>;
  outcomes: Record<string, number>;
  tokens: { remote: number; local: number; saved?: number };
  cost_usd?: { remote: number; saved: number };
  average_local_relevance: number | null;
  targets?: Record<string, number>;
}
