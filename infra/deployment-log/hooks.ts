import * as pulumi from "@pulumi/pulumi";
import { ReleaseResult, ReleaseResultError, parseReleaseResult } from "../release-result";
import { ReportedAttempt, hostDeployId, interruptedRecord, servingAfter } from "./interrupted";
import { DeploymentLog, WriteOutcome } from "./log";
import { DeploymentRecord, DeploymentStatus, commitFromTag, currentRunId, deployIdFor } from "./record";
import { redact, redactedTail } from "./redact";
import { NotifyOutcome, TelegramNotifier, formatTelegramMessage } from "./telegram";

/** What the program knows about a deploy besides the release command's own result. */
export interface DeploymentContext {
  env: string;
  /** The environment's public URL, for the message. */
  url?: string;
  /** Who deployed: GitHub actor or local user. */
  who?: string;
  /** App commit sha the image was built from. */
  commit?: string;
  /** ISO time of the app commit, for lead time. */
  committedAt?: string;
  /** First line of the app commit message. */
  commitSubject?: string;
  /** Link to this run's logs (CI run URL). */
  logsUrl?: string;
  /** The configured image tag, used when the release printed no result. */
  tag?: string;
  /** The configured image digest, likewise. */
  digest?: string;
  /** Where records go; without one nothing is recorded. */
  log?: DeploymentLog;
  /** Where messages go; without one nothing is sent. */
  notifier?: TelegramNotifier;
  /** Shared by all records of this program run; default DEEP_CALM_DEPLOY_ID, the GitHub run, or a UUID. */
  runId?: string;
  /** Exact secret values to keep out of logs and messages. */
  secrets?: readonly string[];
  /** Where logging and notification trouble is reported; default pulumi.log.warn. */
  report?: (message: string) => void;
}

/** What one hook call did; returned so tests (and callers) can see it. */
export interface HookOutcome {
  record?: DeploymentRecord;
  message?: string;
  write?: WriteOutcome;
  notify?: NotifyOutcome;
  /** Set when the hook skipped the event (preview, delete, no result). */
  skipped?: string;
  /** The earlier attempts the host reported as interrupted, each recorded as failed first. */
  interrupted?: HookOutcome[];
}

/** The subset of the SDK's ResourceHookArgs the hooks read. */
export type AfterDeployArgs = Pick<pulumi.ResourceHookArgs, "name" | "newOutputs">;
/** The subset of the SDK's ErrorHookArgs the hooks read. */
export type DeployErrorArgs = Pick<pulumi.ErrorHookArgs, "name" | "failedOperation" | "errors" | "oldOutputs">;

/** Resolves a value that may be an Output (hook args carry secrets as Outputs; config secrets are Outputs). */
export async function plain(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    return new Promise((resolve) => {
      (value as pulumi.Output<unknown>).apply((v) => {
        resolve(v);
        return v;
      });
    });
  }
  return value;
}

/**
 * dc-release's result in `text` (the command's stdout, or the engine's error text that holds it),
 * or why there is none: `missing` when it printed no result line (ssh failed, the procedure check
 * refused), else the field of the line that does not fit the format.
 */
export function readReleaseResult(text: string): { result: ReleaseResult } | { problem: string; missing: boolean } {
  try {
    return { result: parseReleaseResult(text) };
  } catch (err) {
    if (err instanceof ReleaseResultError) {
      return { problem: err.message, missing: err.missing };
    }
    throw err;
  }
}

/**
 * success, or rolled_back when the release went back: dc-release's own `rollback` action, or a
 * deploy of a digest that first served this env before the one it replaces did (`firstServed`:
 * digest -> its place in the order of first serving). Serving again a digest newer than the
 * replaced one is a deploy, e.g. v2 after a fresh v1 on a stack that ran v1 and v2 long ago.
 * The host's `wentBack`, when it gives one, decides: it knows the env's lifetime.
 */
export function classifyRelease(result: ReleaseResult, firstServed: ReadonlyMap<string, number>): DeploymentStatus {
  if (result.action === "rollback") {
    return "rolled_back";
  }
  const hostVerdict = wentBack(result);
  if (hostVerdict !== undefined) {
    return hostVerdict ? "rolled_back" : "success";
  }
  const digest = result.digest ?? undefined;
  const previous = result.previous?.digest ?? undefined;
  if (digest === undefined || previous === undefined || digest === previous || result.changed === false) {
    return "success";
  }
  const target = firstServed.get(digest);
  const replaced = firstServed.get(previous);
  return target !== undefined && replaced !== undefined && target < replaced ? "rolled_back" : "success";
}

/**
 * The host's own verdict (dc-release's `wentBack`, from the env's state since it was created):
 * it holds while Postgres is down, so a rollback recorded through the spool is still rolled_back.
 */
export function wentBack(result: ReleaseResult): boolean | undefined {
  return result.wentBack ?? undefined;
}

/** The one-line reason of a failure: dc-release's reason, else the first line of the engine's error. */
export function failureReason(result: ReleaseResult | undefined, errorText: string): string {
  if (result?.reason) {
    return result.reason;
  }
  const first = errorText.split("\n").find((l) => l.trim() !== "") ?? "";
  return first.trim() === "" ? "the release command failed without a message" : first.trim();
}

/**
 * Turns release-command lifecycle events into deployment records and Telegram messages.
 * Nothing here throws: trouble is reported and returned, and the deploy goes on.
 */
export class DeploymentRecorder {
  readonly runId: string;
  /** Read by the maintenance hooks (maintenance.ts), which record through the same log and chat. */
  readonly ctx: DeploymentContext;

  constructor(ctx: DeploymentContext) {
    this.ctx = ctx;
    this.runId = ctx.runId ?? currentRunId();
  }

  /** After create or update of the release command: success or rolled_back. */
  async afterDeploy(args: AfterDeployArgs): Promise<HookOutcome> {
    try {
      const stdout = await plain(args.newOutputs?.stdout);
      const read = readReleaseResult(typeof stdout === "string" ? stdout : "");
      if (!("result" in read)) {
        const skipped = `${read.problem}; nothing recorded`;
        this.report(skipped);
        return { skipped };
      }
      const { result } = read;
      const interrupted = await this.recordInterrupted(args.name, result);
      // The log's order of first serving is asked only when the host gave no verdict.
      const status = classifyRelease(result, wentBack(result) === undefined ? await this.firstServed() : new Map());
      const record = this.record(args.name, status, result, typeof stdout === "string" ? stdout : "");
      if (status === "rolled_back") {
        record.rollbackFrom = result.previous?.tag ?? null;
      }
      return withInterrupted(await this.deliver(record, {}), interrupted);
    } catch (err) {
      return this.unexpected(err);
    }
  }

  /** When the release command fails: a failed record with the reason and the tail of the output. */
  async afterError(args: DeployErrorArgs): Promise<HookOutcome> {
    try {
      if (args.failedOperation === "delete") {
        return { skipped: "delete failures are not deploys" };
      }
      const errorText = args.errors[0] ?? "";
      const read = readReleaseResult(errorText);
      // Without a result line the failure is recorded from the engine's error alone; a line that does
      // not fit is said too, since the host's facts (serving, interrupted attempts) are then unknown.
      if ("problem" in read && !read.missing) {
        this.report(`${read.problem}; recorded as failed from the error text`);
      }
      const result = "result" in read ? read.result : undefined;
      const interrupted = await this.recordInterrupted(args.name, result);
      const record = this.record(args.name, "failed", result, errorText);
      const revertedTo = result?.serving?.tag ?? (result?.rolledBack ? result.previous?.tag : undefined);
      const outcome = await this.deliver(record, {
        reason: failureReason(result, errorText),
        ...(typeof revertedTo === "string" && revertedTo !== "" ? { revertedTo } : {}),
      });
      return withInterrupted(outcome, interrupted);
    } catch (err) {
      return this.unexpected(err);
    }
  }

  /**
   * Earlier attempts the host reports as interrupted (killed, or their caller gone before the
   * result), and its newest delivered results that no row records yet (their pulumi up was killed
   * after the provider read them): a failed row each, written before this attempt's own, with the
   * host's reason. A row already there (the same host release id) is left alone, unannounced.
   */
  private async recordInterrupted(name: string, result: ReleaseResult | undefined): Promise<HookOutcome[]> {
    const outcomes: HookOutcome[] = [];
    const secrets = this.ctx.secrets ?? [];
    const toRecord = (certain: boolean) => (attempt: ReportedAttempt) => ({
      attempt,
      certain,
      record: interruptedRecord(this.ctx.env, name, attempt, secrets),
    });
    const attempts = [
      ...(result?.interrupted ?? []).map(toRecord(true)),
      ...(await this.unrecorded((result?.unconfirmed ?? []).map(toRecord(false)))),
    ];
    for (const { attempt, certain, record } of attempts) {
      // An unconfirmed one stays on the host and is handed over again: no copy in the spool.
      const write = this.ctx.log ? await this.ctx.log.write(record, { spool: certain }) : undefined;
      if (write?.inserted === false || (!certain && write?.inserted !== true)) continue;
      const revertedTo = servingAfter(attempt);
      outcomes.push(await this.deliver(record, { reason: attempt.reason, ...(revertedTo ? { revertedTo } : {}) }, write));
    }
    return outcomes;
  }

  /**
   * The host's unconfirmed results that the log lacks, asked in one query. None without a log to
   * ask (a recorded one cannot be told from the rest), none when the log has no row of this env
   * yet (a new database or schema: the host's recent history would come in as failures), none
   * when the log cannot be reached (they are handed over again next time).
   */
  private async unrecorded<T extends { record: DeploymentRecord }>(candidates: T[]): Promise<T[]> {
    if (candidates.length === 0 || !this.ctx.log) {
      return [];
    }
    try {
      const missing = await this.ctx.log.missing(
        this.ctx.env,
        candidates.map((c) => c.record.deployId),
      );
      return candidates.filter((c) => missing.includes(c.record.deployId));
    } catch {
      return [];
    }
  }

  private record(name: string, status: DeploymentStatus, result: ReleaseResult | undefined, output: string): DeploymentRecord {
    const str = (v: string | null | undefined): string | undefined => (v ? v : undefined);
    const tag = str(result?.tag) ?? this.ctx.tag ?? "unknown";
    const durationMs = result?.durationMs ?? null;
    const finishedAt = result?.finishedAt ?? new Date().toISOString();
    const startedAt = result?.startedAt ?? new Date(Date.parse(finishedAt) - (durationMs ?? 0)).toISOString();
    // Keyed by the host's release id when there is one, so a report of the same attempt the host
    // hands over again later (see recordInterrupted) finds its row.
    const releaseId = str(result?.releaseId);
    return {
      deployId: releaseId ? hostDeployId(releaseId, this.ctx.env, name) : deployIdFor(this.runId, this.ctx.env, name),
      env: this.ctx.env,
      tag,
      digest: str(result?.digest) ?? this.ctx.digest ?? null,
      // The configured commit describes the configured tag; another tag (a rollback) names its own.
      commit: (this.isConfiguredTag(tag) ? this.ctx.commit : undefined) ?? commitFromTag(tag) ?? null,
      committedAt: (this.isConfiguredTag(tag) ? this.ctx.committedAt : undefined) ?? null,
      status,
      deployedBy: this.ctx.who ?? null,
      startedAt,
      finishedAt,
      deployedAt: finishedAt,
      durationMs,
      rollbackFrom: null,
      logs: redactedTail(output, 40, 4000, this.ctx.secrets ?? []),
    };
  }

  private isConfiguredTag(tag: string): boolean {
    return this.ctx.tag === undefined || this.ctx.tag === tag;
  }

  private async deliver(
    record: DeploymentRecord,
    extra: { reason?: string; revertedTo?: string },
    written?: WriteOutcome,
  ): Promise<HookOutcome> {
    const outcome: HookOutcome = { record };
    if (written ?? this.ctx.log) {
      outcome.write = written ?? (await (this.ctx.log as DeploymentLog).write(record));
      if (outcome.write.problem) {
        this.report(`deployment log: ${outcome.write.problem}`);
      }
    }
    outcome.message = formatTelegramMessage(record, {
      ...(this.ctx.url ? { url: this.ctx.url } : {}),
      ...(this.ctx.commitSubject && this.isConfiguredTag(record.tag) ? { commitSubject: this.ctx.commitSubject } : {}),
      ...(this.ctx.logsUrl ? { logsUrl: this.ctx.logsUrl } : {}),
      ...extra,
      secrets: this.ctx.secrets ?? [],
    });
    if (this.ctx.notifier) {
      outcome.notify = await this.ctx.notifier.send(outcome.message);
      if (!outcome.notify.sent) {
        this.report(`Telegram: message not sent after ${outcome.notify.attempts} attempt(s): ${outcome.notify.problem ?? "unknown"}`);
      }
    }
    return outcome;
  }

  private async firstServed(): Promise<Map<string, number>> {
    if (!this.ctx.log) {
      return new Map();
    }
    try {
      return await this.ctx.log.firstServed(this.ctx.env);
    } catch (err) {
      this.report(`deployment log: cannot tell a rollback from a deploy (recorded as success): ${this.describe(err)}`);
      return new Map();
    }
  }

  private unexpected(err: unknown): HookOutcome {
    const problem = `deployment recording failed: ${this.describe(err)}`;
    this.report(problem);
    return { skipped: problem };
  }

  private describe(err: unknown): string {
    return redact(err instanceof Error ? err.message : String(err), this.ctx.secrets ?? []);
  }

  private report(message: string): void {
    const line = redact(message, this.ctx.secrets ?? []);
    try {
      (this.ctx.report ?? ((m: string) => void pulumi.log.warn(m)))(line);
    } catch {
      // Reporting is best effort by definition.
    }
  }
}

/** This attempt's outcome, with the interrupted attempts recorded before it (when there were any). */
function withInterrupted(outcome: HookOutcome, interrupted: HookOutcome[]): HookOutcome {
  return interrupted.length > 0 ? { ...outcome, interrupted } : outcome;
}

/**
 * Named hooks for the release command of `env` (names are unique per program, as the SDK requires);
 * the recorder is obtained when a hook fires, so its settings may come from secret Outputs.
 */
export function releaseHookBinding(env: string, recorder: () => Promise<DeploymentRecorder>): pulumi.ResourceHookBinding {
  // Recording must never fail a deploy: anything thrown is reported, and the engine is told to ignore hook errors too.
  const guarded = async (run: (r: DeploymentRecorder) => Promise<unknown>): Promise<void> => {
    try {
      await run(await recorder());
    } catch (err) {
      void pulumi.log.warn(`deployment recording failed: ${redact(err instanceof Error ? err.message : String(err))}`);
    }
  };
  const after = new pulumi.ResourceHook(`${env}-deployment-recorded`, (args) => guarded((r) => r.afterDeploy(args)), {
    ignoreErrors: true,
  });
  const failed = new pulumi.ErrorHook(`${env}-deployment-failure-recorded`, async (args) => {
    await guarded((r) => r.afterError(args));
    // A release failure is final: dc-release already rolled back; retrying would deploy again.
    return false;
  });
  return { afterCreate: [after], afterUpdate: [after], onError: [failed] };
}
