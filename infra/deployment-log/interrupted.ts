/**
 * Interrupted attempts: releases whose result no `pulumi up` recorded. dc-release keeps them on
 * the host (a release killed mid-way, or one whose caller was gone when it printed its result) and
 * hands them over in the `interrupted` list of the next result line it delivers; the hook of that
 * next attempt records each as a `failed` row before its own.
 *
 * Why the host and not a row written when the attempt starts: the host is the one place every
 * attempt passes through, whichever machine or runner ran `pulumi up` and however it died. A row
 * written at the start needs the program alive at the end to finish it, and a killed `pulumi up`
 * kills the program's hooks first.
 */
import { ReleaseResult } from "../release";
import { DeploymentRecord, commitFromTag, deployIdFor } from "./record";
import { redactedTail } from "./redact";

/** One entry of dc-release's `interrupted` list. */
export interface InterruptedAttempt {
  releaseId: string;
  action?: string;
  tag?: string | null;
  digest?: string | null;
  /** Why it is reported; always begins with "interrupted". */
  reason: string;
  /** The phase it stopped in (lock, pull, migrate, start, health, switch, smoke, bake, finished). */
  stoppedIn?: string;
  /** What nginx served when the interruption was noticed. */
  serving?: { tag?: string | null; digest?: string | null; port?: number } | null;
  logFile?: string | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  /** When a later release found it (a release killed without an exit has no finishedAt). */
  foundAt?: string | null;
}

function isAttempt(value: unknown): value is InterruptedAttempt {
  if (value === null || typeof value !== "object") {
    return false;
  }
  const v = value as Record<string, unknown>;
  return typeof v.releaseId === "string" && v.releaseId !== "" && typeof v.reason === "string";
}

/** The interrupted attempts a result line reports (none when it has no such list). */
export function interruptedAttempts(result: ReleaseResult | undefined): InterruptedAttempt[] {
  const list = result?.interrupted;
  return Array.isArray(list) ? list.filter(isAttempt) : [];
}

/**
 * The host's newest delivered results, which a killed `pulumi up` may not have recorded (the
 * command provider still read them; the program's hooks were gone). Recorded only when the log
 * has no row of that release yet.
 */
export function unconfirmedAttempts(result: ReleaseResult | undefined): InterruptedAttempt[] {
  const list = result?.unconfirmed;
  return Array.isArray(list) ? list.filter(isAttempt) : [];
}

/** The row id of a release attempt, from the host's release id: the same however it is recorded. */
export function hostDeployId(releaseId: string, env: string, resourceName: string): string {
  return deployIdFor(`host-${releaseId}`, env, resourceName);
}

/** The tag an interrupted attempt left serving, for the message's "reverted to". */
export function servingAfter(attempt: InterruptedAttempt): string | undefined {
  const tag = attempt.serving?.tag;
  return typeof tag === "string" && tag !== "" ? tag : undefined;
}

const iso = (v: unknown): string | undefined => (typeof v === "string" && !Number.isNaN(Date.parse(v)) ? v : undefined);

/**
 * The `failed` row of an interrupted attempt. Its id comes from the host's release id, so the
 * same attempt reported twice (a result delivered, its hook then killed) is written once.
 */
export function interruptedRecord(
  env: string,
  resourceName: string,
  attempt: InterruptedAttempt,
  secrets: readonly string[] = [],
  now: Date = new Date(),
): DeploymentRecord {
  const finishedAt = iso(attempt.finishedAt) ?? iso(attempt.foundAt) ?? now.toISOString();
  const startedAt = iso(attempt.startedAt) ?? finishedAt;
  const tag = typeof attempt.tag === "string" && attempt.tag !== "" ? attempt.tag : "unknown";
  const where = attempt.logFile ? `\nhost log: ${attempt.logFile}` : "";
  return {
    deployId: hostDeployId(attempt.releaseId, env, resourceName),
    env,
    tag,
    digest: attempt.digest ?? null,
    commit: commitFromTag(tag) ?? null,
    committedAt: null,
    status: "failed",
    // Who ran the killed attempt is not known on the host.
    deployedBy: null,
    startedAt,
    finishedAt,
    deployedAt: finishedAt,
    durationMs: Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)),
    rollbackFrom: null,
    logs: redactedTail(`${attempt.reason}${where}`, 40, 4000, secrets),
  };
}
