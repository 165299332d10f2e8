import { DeploymentRecord } from "./record";
import { redact } from "./redact";

/** What the record alone does not say: links, the commit's subject and author, the rollback target. */
export interface MessageContext {
  /** The environment's public URL. */
  url?: string;
  /** First line of the app commit message. */
  commitSubject?: string;
  /** Commit author or actor; defaults to the record's deployedBy. */
  author?: string;
  /** Link to the CI run or log of this deploy. */
  logsUrl?: string;
  /** One-line reason of a failure. */
  reason?: string;
  /** The release serving again after a failed deploy (auto-rollback). */
  revertedTo?: string;
  /** The health gate passed (success and rollback messages). Default true for those. */
  healthPassed?: boolean;
  /** Exact secret values that must never appear (tokens, passwords). */
  secrets?: readonly string[];
}

/** Telegram's limit is 4096 characters; a long reason is cut well before it. */
const MAX_FIELD = 600;

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** `2m 34s`, `45s`, `1h 2m 3s`; unknown durations read `unknown`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) {
    return "unknown";
  }
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) {
    return `${h}h ${m}m ${s}s`;
  }
  return m > 0 ? `${m}m ${s}s` : `${s}s`;
}

/** `dev` → `Dev`; a review env keeps its name as it is on the host and in the log (`pr-42`). */
export function envLabel(env: string): string {
  if (/^pr-[0-9]+$/.test(env)) {
    return env;
  }
  return env.charAt(0).toUpperCase() + env.slice(1);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_FIELD ? `${flat.slice(0, MAX_FIELD - 1)}…` : flat;
}

function commitLine(record: DeploymentRecord, subject: string | undefined): string {
  if (record.commit) {
    const sha = record.commit.slice(0, 7);
    return subject ? `Commit: ${sha} (${subject})` : `Commit: ${sha}`;
  }
  return `Release: ${record.tag}`;
}

/** The message as plain lines, each field redacted, before escaping. */
export function messageLines(record: DeploymentRecord, ctx: MessageContext = {}): string[] {
  const clean = (text: string | null | undefined): string | undefined =>
    text === null || text === undefined || text === "" ? undefined : oneLine(redact(text, ctx.secrets ?? []));
  const env = envLabel(clean(record.env) ?? "");
  const subject = clean(ctx.commitSubject);
  const author = clean(ctx.author ?? record.deployedBy);
  const url = clean(ctx.url);
  const logs = clean(ctx.logsUrl);
  const healthLine = (ctx.healthPassed ?? true) ? "✅ Health check passed" : "⚠️ Health check not confirmed";
  const r: DeploymentRecord = { ...record, tag: clean(record.tag) ?? "", commit: clean(record.commit) ?? null };
  const lines: string[] = [];
  switch (record.status) {
    case "success":
      lines.push(`🚀 Deploy to ${env}: success`, commitLine(r, subject));
      if (author) lines.push(`Author: ${author}`);
      lines.push(`Duration: ${formatDuration(record.durationMs)}`);
      if (url) lines.push(`URL: ${url}`);
      lines.push("", healthLine);
      break;
    case "rolled_back":
      lines.push(`⏪ Rollback of ${env}: rolled_back to ${r.tag}`);
      if (record.rollbackFrom) lines.push(`From: ${clean(record.rollbackFrom)}`);
      lines.push(commitLine(r, subject));
      if (author) lines.push(`Author: ${author}`);
      lines.push(`Duration: ${formatDuration(record.durationMs)}`);
      if (url) lines.push(`URL: ${url}`);
      lines.push("", healthLine);
      break;
    case "failed": {
      lines.push(`❌ Deploy to ${env}: failed`, commitLine(r, subject));
      lines.push(`Error: ${clean(ctx.reason) ?? "unknown (see logs)"}`, "");
      const reverted = clean(ctx.revertedTo);
      if (reverted) lines.push(`🔄 Auto-rollback: reverted to ${reverted}`);
      if (url) lines.push(`URL: ${url}`);
      if (logs) lines.push("", `Logs: ${logs}`);
      break;
    }
  }
  return lines;
}

/**
 * The Telegram text of a deploy record in the seed's format, for parse_mode HTML:
 * every field is redacted (known secrets and anything token-shaped), then HTML-escaped.
 */
export function formatTelegramMessage(record: DeploymentRecord, ctx: MessageContext = {}): string {
  return messageLines(record, ctx).map(escapeHtml).join("\n");
}

export interface TelegramNotifierOptions {
  /** Bot API base URL; default https://api.telegram.org (tests point it at a local server). */
  apiBaseUrl?: string;
  /** Bot token (secret); never logged. */
  token: string;
  chatId: string;
  /** Attempts in all, at least 1; default 4. */
  attempts?: number;
  /** First retry delay in ms, doubled each retry; default 500. */
  backoffMs?: number;
  /** Longest single wait in ms (also caps Telegram's retry_after); default 10000. */
  maxBackoffMs?: number;
  /** Per-request timeout in ms; default 10000. */
  timeoutMs?: number;
}

export interface NotifyOutcome {
  sent: boolean;
  attempts: number;
  /** Why it was not sent, token redacted. */
  problem?: string;
}

/** One sendMessage call: delivered, or why not and whether another try may help. */
interface AttemptResult {
  ok: boolean;
  retry: boolean;
  problem: string;
  retryAfterMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends messages through the Bot API (sendMessage, HTML parse mode) with bounded retries; never throws. */
export class TelegramNotifier {
  private readonly opts: TelegramNotifierOptions;

  constructor(opts: TelegramNotifierOptions) {
    this.opts = opts;
  }

  async send(text: string): Promise<NotifyOutcome> {
    const attempts = Math.max(1, this.opts.attempts ?? 4);
    let delay = this.opts.backoffMs ?? 500;
    const maxDelay = this.opts.maxBackoffMs ?? 10_000;
    let problem = "not attempted";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const result = await this.attempt(text);
      if (result.ok) {
        return { sent: true, attempts: attempt };
      }
      problem = result.problem;
      if (!result.retry || attempt === attempts) {
        return { sent: false, attempts: attempt, problem };
      }
      await sleep(Math.min(maxDelay, result.retryAfterMs ?? delay));
      delay = Math.min(maxDelay, delay * 2);
    }
    return { sent: false, attempts, problem };
  }

  private async attempt(text: string): Promise<AttemptResult> {
    const base = (this.opts.apiBaseUrl ?? "https://api.telegram.org").replace(/\/+$/, "");
    const url = `${base}/bot${this.opts.token}/sendMessage`;
    const body = JSON.stringify({ chat_id: this.opts.chatId, text, parse_mode: "HTML", disable_web_page_preview: true });
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      const raw = await res.text();
      let payload: { ok?: boolean; description?: string; parameters?: { retry_after?: number } } = {};
      try {
        payload = JSON.parse(raw) as typeof payload;
      } catch {
        payload = { description: raw.slice(0, 200) };
      }
      if (res.ok && payload.ok !== false) {
        return { ok: true, retry: false, problem: "" };
      }
      const problem = this.hide(`Telegram answered HTTP ${res.status}: ${payload.description ?? "no description"}`);
      const retryAfter = payload.parameters?.retry_after;
      return {
        ok: false,
        retry: res.status === 429 || res.status >= 500,
        problem,
        ...(typeof retryAfter === "number" ? { retryAfterMs: retryAfter * 1000 } : {}),
      };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const detail = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
      return { ok: false, retry: true, problem: this.hide(`Telegram unreachable at ${base}: ${e.name}: ${detail}`) };
    }
  }

  /** The token never leaves this object, even inside an error a server or the runtime produced. */
  private hide(message: string): string {
    return redact(message, [this.opts.token]);
  }
}
