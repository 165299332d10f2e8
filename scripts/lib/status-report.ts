/**
 * The pure part of `npm run status`: a host's `dc-release status --front-url ...` line and what the
 * stack expects (its config's imageTag, its outputs `image`, `digest` and `release`) become the
 * report of the host: its rows, its drift, and the exit code a cron or CI job reads.
 *
 * Healthy: the current release is what nginx routes to, its container runs that digest and answers
 * its health path (dc-release's `healthy`), and one GET through nginx gets a 2xx from that port.
 * In sync: the host serves the digest the stack's last `pulumi up` deployed, and the stack's config
 * asks for the tag that was deployed (no tag waiting for `pulumi up`).
 */
import { parseDeployLog, type DeployLogLine, type StatusReport } from "../../infra/release-result";

/** What the stack expects on its host. */
export interface StackExpectation {
  stack: string;
  env: string;
  /** The config's imageTag: what the stack is set to deploy. */
  configTag: string;
  /** From the outputs of the last `pulumi up` (undefined: the stack has none, e.g. never deployed). */
  deployed?: { image: string; tag: string; digest: string };
}

/** 0 healthy and in sync | 1 unhealthy (drifted or not) | 2 could not look | 3 healthy but drifted. */
export const STATUS_EXIT = { ok: 0, unhealthy: 1, failed: 2, drifted: 3 } as const;

export type DriftKind = "serving" | "container" | "config" | "nothing-deployed";

export interface Drift {
  kind: DriftKind;
  message: string;
}

/** The last attempt from deploy.log, as the host wrote it. */
export interface LastAttempt {
  ok: boolean;
  action: string | null;
  tag: string | null;
  releaseId: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  reason: string | null;
  /** When the line does not read as a deploy.log line: why; the raw line is in `raw`. */
  unreadable?: string;
  raw: string;
}

export interface HostStatus {
  /** user@host:port as the stack dials it. */
  host: string;
  env: string;
  serving: { tag: string; digest: string; port: number | null; since: string | null } | null;
  /** nginx routes to this port (may differ from the state's when someone switched by hand). */
  servingPort: number | null;
  health: {
    healthy: boolean;
    /** One probe on the serving port. */
    direct: { port: number; answer: string; healthy: boolean; running: boolean; digest: string | null } | null;
    /** One GET through nginx. */
    front: { url: string; httpStatus: number | null; upstream: string | null; healthy: boolean } | null;
    /** On a cluster (scripts/lib/kube-status.ts), instead of the direct probe: the Deployment's pods. */
    pods?: { ready: number; want: number; stuck: boolean };
  };
  retained: { tag: string; digest: string; since: string | null }[];
  warm: { tag: string | null; digest: string | null; port: number; since: string | null } | null;
  lock: { pid: number | null; action: string | null; tag: string | null; releaseId: string | null; since: string | null } | null;
  lastAttempt: LastAttempt | null;
  created: string | null;
  expected: StackExpectation;
  drift: Drift[];
  inSync: boolean;
  exitCode: number;
  /** dc-release's own time for the status, in ms. */
  hostMs: number;
}

const unixTime = (s: number | null): string | null => (s === null ? null : new Date(s * 1000).toISOString());

/** `sha256:` and the first 12 hex digits: enough to tell releases apart in a table. */
export function shortDigest(digest: string | null | undefined): string {
  if (digest === null || digest === undefined || digest === "") return "-";
  return digest.startsWith("sha256:") ? `sha256:${digest.slice(7, 19)}` : digest;
}

/** The tag of an image reference (`repo:tag`, the registry may have a port). */
export function tagOf(image: string): string {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? image.slice(colon + 1) : "";
}

/** The last deploy.log line, read through the one parser; a line it refuses is kept raw, with why. */
export function lastAttemptFrom(raw: string | null | undefined): LastAttempt | null {
  if (raw === null || raw === undefined || raw.trim() === "") return null;
  let line: DeployLogLine | undefined;
  try {
    line = parseDeployLog(raw)[0];
  } catch (err) {
    return {
      ok: false,
      action: null,
      tag: null,
      releaseId: null,
      finishedAt: null,
      durationMs: null,
      reason: null,
      unreadable: err instanceof Error ? err.message : String(err),
      raw,
    };
  }
  if (line === undefined) return null;
  // A killed attempt, written by the release that found it, has no end of its own: when it was found.
  const [finishedAt, durationMs] = "foundAt" in line ? [line.foundAt, null] : [line.finishedAt, line.durationMs];
  return { ok: line.ok, action: line.action, tag: line.tag, releaseId: line.releaseId, finishedAt, durationMs, reason: line.reason, raw };
}

/** What the drift rules read of a status: the current release, and what the direct probe saw run. */
export interface Serving {
  current: Pick<NonNullable<StatusReport["current"]>, "tag" | "digest"> | null;
  direct?: Pick<NonNullable<StatusReport["direct"]>, "port" | "digest"> | null;
}

/** What differs between what the stack expects and what the host (or the cluster) serves. */
export function driftOf(status: Serving, expected: StackExpectation): Drift[] {
  const drift: Drift[] = [];
  const cur = status.current;
  const deployed = expected.deployed;
  if (deployed === undefined) {
    drift.push({
      kind: "nothing-deployed",
      message: cur
        ? `the stack has no deployed release in its outputs, yet the host serves ${cur.tag} (${shortDigest(cur.digest)})`
        : "the stack has no deployed release in its outputs and the host serves nothing: run pulumi up",
    });
  } else if (cur === null) {
    drift.push({
      kind: "serving",
      message: `the host serves nothing, the stack deployed ${deployed.tag} (${shortDigest(deployed.digest)})`,
    });
  } else if (cur.digest !== deployed.digest) {
    drift.push({
      kind: "serving",
      message: `the host serves ${cur.tag} (${shortDigest(cur.digest)}), the stack deployed ${deployed.tag} (${shortDigest(deployed.digest)}): switched by hand? pulumi up brings it back`,
    });
  }
  const direct = status.direct;
  if (cur !== null && direct && direct.digest !== null && direct.digest !== cur.digest) {
    drift.push({
      kind: "container",
      message: `the container on port ${direct.port} runs ${shortDigest(direct.digest)}, not the current release ${cur.tag} (${shortDigest(cur.digest)})`,
    });
  }
  if (deployed !== undefined && expected.configTag !== "" && expected.configTag !== deployed.tag) {
    drift.push({
      kind: "config",
      message: `the stack's config asks for ${expected.configTag}, its last pulumi up deployed ${deployed.tag}: run pulumi up`,
    });
  }
  return drift;
}

/** A host's (or a cluster's) exit code: unhealthy over drifted over ok. */
export function exitFor(healthy: boolean, inSync: boolean): number {
  return !healthy ? STATUS_EXIT.unhealthy : !inSync ? STATUS_EXIT.drifted : STATUS_EXIT.ok;
}

/** The report of one host from its status line and the stack's expectation. */
export function hostStatus(host: string, status: StatusReport, expected: StackExpectation): HostStatus {
  const cur = status.current;
  const front = status.front ?? null;
  const direct = status.direct ?? null;
  const healthy = status.healthy && cur !== null && (front === null || front.healthy);
  const drift = driftOf(status, expected);
  const inSync = drift.length === 0;
  const exitCode = exitFor(healthy, inSync);
  const warm = status.warm ?? null;
  const lock = status.lock ?? null;
  return {
    host,
    env: status.env,
    serving: cur && { tag: cur.tag, digest: cur.digest, port: cur.port, since: cur.time },
    servingPort: status.servingPort,
    health: {
      healthy,
      direct: direct && {
        port: direct.port,
        answer: direct.answer,
        healthy: direct.healthy,
        running: direct.running,
        digest: direct.digest,
      },
      front: front && { url: front.url, httpStatus: front.httpStatus, upstream: front.upstream, healthy: front.healthy },
    },
    retained: status.retained.map((r) => ({ tag: r.tag, digest: r.digest, since: unixTime(r.since) })),
    warm: warm && { tag: warm.tag, digest: warm.digest, port: warm.port, since: unixTime(warm.since) },
    lock: lock && { ...lock },
    lastAttempt: lastAttemptFrom(status.lastAttempt),
    created: status.created,
    expected,
    drift,
    inSync,
    exitCode,
    hostMs: status.durationMs,
  };
}

/** The exit code of the whole command: the worst host's (unhealthy over drifted over ok). */
export function overallExit(hosts: readonly Pick<HostStatus, "exitCode">[]): number {
  const order = [STATUS_EXIT.unhealthy, STATUS_EXIT.drifted, STATUS_EXIT.ok] as const;
  return order.find((code) => hosts.some((h) => h.exitCode === code)) ?? STATUS_EXIT.ok;
}

function healthWords(h: HostStatus["health"]): string {
  const direct = h.pods
    ? `pods: ${h.pods.ready}/${h.pods.want} pods ready${h.pods.stuck ? ", rollout stuck (ProgressDeadlineExceeded)" : ""}`
    : h.direct
      ? `direct 127.0.0.1:${h.direct.port} ${h.direct.answer}${h.direct.running ? "" : " (container not running)"}`
      : "direct: nothing serves";
  const front = h.front ? `front HTTP ${h.front.httpStatus ?? "none"} from ${h.front.upstream ?? "unknown upstream"}` : "front: not probed";
  return `${h.healthy ? "healthy" : "UNHEALTHY"}: ${direct}; ${front}`;
}

function attemptWords(a: LastAttempt | null): string {
  if (a === null) return "none";
  if (a.unreadable !== undefined) return `unreadable deploy.log line (${a.unreadable})`;
  const took = a.durationMs === null ? "" : ` (${(a.durationMs / 1000).toFixed(1)} s)`;
  const why = a.ok || a.reason === null ? "" : `: ${a.reason}`;
  return `${a.ok ? "ok" : "FAILED"} ${a.action ?? "?"} ${a.tag ?? "-"} at ${a.finishedAt ?? "?"}${took}${why}`;
}

/** The rows of one host's table: label, value. */
export function hostRows(h: HostStatus): [string, string][] {
  const expected = h.expected.deployed
    ? `${h.expected.deployed.tag} ${shortDigest(h.expected.deployed.digest)} (config imageTag ${h.expected.configTag || "-"})`
    : `nothing deployed (config imageTag ${h.expected.configTag || "-"})`;
  const serving = h.serving
    ? `${h.serving.tag} ${shortDigest(h.serving.digest)} port ${h.servingPort ?? h.serving.port ?? "-"} since ${h.serving.since ?? "?"}`
    : "nothing";
  const retained = h.retained.length === 0 ? "none" : h.retained.map((r) => r.tag).join(", ");
  const warm = h.warm ? `${h.warm.tag ?? "?"} ${shortDigest(h.warm.digest)} port ${h.warm.port} since ${h.warm.since ?? "?"}` : "none";
  const lock = h.lock
    ? `held by pid ${h.lock.pid ?? "?"}: ${h.lock.action ?? "?"}${h.lock.tag ? ` ${h.lock.tag}` : ""} since ${h.lock.since ?? "?"}`
    : "free";
  const drift = h.inSync ? "none" : h.drift.map((d) => d.message).join("; ");
  return [
    ["serving", serving],
    ["expected", expected],
    ["health", healthWords(h.health)],
    ["retained", `${retained} (oldest first)`],
    ["warm", warm],
    ["lock", lock],
    ["last attempt", attemptWords(h.lastAttempt)],
    ["drift", drift],
  ];
}

/** The readable table: a header per host, then its rows, then the verdict. */
export function renderTable(hosts: readonly HostStatus[], exitCode: number): string {
  const lines: string[] = [];
  for (const h of hosts) {
    lines.push(`${h.expected.stack} (env ${h.env}) on ${h.host}`);
    const rows = hostRows(h);
    const width = Math.max(...rows.map(([label]) => label.length));
    for (const [label, value] of rows) lines.push(`  ${label.padEnd(width)}  ${value}`);
  }
  const unhealthy = hosts.some((h) => !h.health.healthy);
  const drifted = hosts.some((h) => !h.inSync);
  const verdict = [unhealthy ? "UNHEALTHY" : "healthy", drifted ? "DRIFTED" : "in sync"].join(", ");
  // A release under way switches and records in steps: what it shows meanwhile may not last.
  const busy = hosts.some((h) => h.lock !== null) ? "; a release holds the lock, look again when it ends" : "";
  lines.push(`${verdict} (exit ${exitCode})${busy}`);
  return lines.join("\n");
}
