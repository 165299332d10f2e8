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
import { InterruptedAttempt, UnconfirmedAttempt } from "../release-result";
import { DeploymentRecord, commitFromTag, deployIdFor } from "./record";
import { redactedTail } from "./redact";

/** An attempt the host reports in a result line: in `interrupted`, or in `unconfirmed`. */
export type ReportedAttempt = InterruptedAttempt | UnconfirmedAttempt;

/** The row id of a release attempt, from the host's release id: the same however it is recorded. */
export function hostDeployId(releaseId: string, env: string, resourceName: string): string {
  return deployIdFor(`host-${releaseId}`, env, resourceName);
}

/** The tag an interrupted attempt left serving, for the message's "reverted to". */
export function servingAfter(attempt: ReportedAttempt): string | undefined {
  return attempt.serving?.tag || undefined;
}

/**
 * The `failed` row of an interrupted attempt. Its id comes from the host's release id, so the
 * same attempt reported twice (a result delivered, its hook then killed) is written once.
 */
export function interruptedRecord(
  env: string,
  resourceName: string,
  attempt: ReportedAttempt,
  secrets: readonly string[] = [],
): DeploymentRecord {
  // A killed attempt never finished: it ends when a later release found it.
  const finishedAt = "foundAt" in attempt ? attempt.foundAt : attempt.finishedAt;
  const startedAt = attempt.startedAt ?? finishedAt;
  const tag = attempt.tag || "unknown";
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
