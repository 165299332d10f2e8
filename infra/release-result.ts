/**
 * The result lines of host/dc-release, defined once. The types below are the reference of the
 * format, and `parseResultLine` is the one parser every reader goes through: the Release
 * component, the deployment-log hooks, the observation of the host, the rollback command, the
 * benches and the tests. dc-release builds its lines by hand in bash, so this check is what keeps
 * the two sides agreeing: a line is taken only when every field has its type, null only where the
 * host prints null, and no field this file does not name; anything else is refused with the field
 * and its value. The integration tests read every real line through it.
 *
 * What dc-release prints on stdout, after its progress on stderr, is ONE line:
 *   deploy, rollback, remove   ReleaseResult; also appended to <root>/<env>/deploy.log unless refused (exit 2)
 *   status                     StatusReport, or StatusFailure when it was refused or could not look
 *   check                      CheckResult, or CheckFailure (refused, exit 2)
 *   an action it does not know RefusedResult (exit 2)
 * Each line of deploy.log is a DeployLogLine: a ReleaseResult, with `"delivered":false` when stdout
 * was gone, or a DeadAttempt, written by the release that found a killed one.
 *
 * Strings come out exactly as the host had them: dc-release escapes what JSON needs and writes
 * anything outside ASCII as \uXXXX, which JSON.parse turns back.
 */

const ATTEMPT_ACTIONS = ["deploy", "rollback", "remove"] as const;
/** The actions whose line is a ReleaseResult: they lock the env and write deploy.log. */
export type AttemptAction = (typeof ATTEMPT_ACTIONS)[number];

const TRACED_ACTIONS = ["deploy", "rollback"] as const;
/** The actions whose attempts the host keeps a trace of (state/attempt): interrupted and unconfirmed ones. */
export type TracedAction = (typeof TRACED_ACTIONS)[number];

const EXIT_CODES = [0, 1, 2, 3, 4] as const;
/** 0 ok (or nothing to do) | 1 failed, the old release still serves | 2 bad arguments, nothing touched | 3 lock busy | 4 pull or registry failure. */
export type ExitCode = (typeof EXIT_CODES)[number];

const STOPPED_IN = ["lock", "pull", "migrate", "start", "health", "switch", "smoke", "bake", "finishing", "finished"] as const;
/**
 * Where an attempt was when it stopped: a phase (phases{} without its Ms), `finishing` (after the
 * last phase, or before the first), `finished` (it ended ok).
 */
export type StoppedIn = (typeof STOPPED_IN)[number];

/** A release as tag and digest (a result's `previous`). */
export interface ReleaseRef {
  tag: string;
  digest: string;
}

/** The release the env's state names as current, and its port (null when the state has none). */
export interface ServingRelease {
  tag: string;
  digest: string;
  port: number | null;
}

/** What nginx routes to when an attempt is reported: the port, and its release as far as known. */
export interface ServingNow {
  tag: string | null;
  digest: string | null;
  port: number;
}

/** Milliseconds of each phase of the attempt; 0 for a phase it did not reach. */
export interface PhaseTimes {
  lockMs: number;
  /** Waiting for a pull begun while the lock was busy; a pull made by docker run counts in migrateMs or startMs. */
  pullMs: number;
  migrateMs: number;
  startMs: number;
  healthMs: number;
  switchMs: number;
  smokeMs: number;
  bakeMs: number;
}

/** The watch of the new release after the switch, while the old one is still warm (--bake). */
export interface BakeReport {
  /** --bake, in seconds (decimals). */
  seconds: number;
  /** null when the attempt did not get that far (or nothing switched). */
  verdict: "off" | "passed" | "failed" | null;
  watchedMs: number;
  /** Requests and 5xx answers of the new release through nginx during the bake. */
  requests: number;
  errors: number;
  /** Requests and 5xx answers of the old release through nginx in the minute before the switch. */
  beforeRequests: number;
  beforeErrors: number;
}

/**
 * An earlier release that no caller got the result of, as a later release hands it over in
 * `interrupted`: its caller went away (pulumi up killed, its SSH session cut), so its line reached
 * nobody. It ran to its end on the host.
 */
export interface CutOffAttempt {
  ok: boolean;
  action: TracedAction;
  env: string | null;
  tag: string | null;
  digest: string | null;
  /** The repository, without the tag. */
  image: string | null;
  releaseId: string;
  serving: ServingNow | null;
  /** Begins with "interrupted: the caller went away". */
  reason: string;
  stoppedIn: StoppedIn;
  logFile: string | null;
  startedAt: string;
  lockedAt: string | null;
  finishedAt: string;
}

/**
 * A release killed without an exit (SIGKILL, the host went down), found by the next release of
 * the env from its marker: in that release's `interrupted`, and as a line of deploy.log.
 */
export interface DeadAttempt {
  ok: false;
  /** From the killed release's marker; null when the marker lost it. */
  action: TracedAction | null;
  env: string | null;
  tag: string | null;
  digest: string | null;
  image: string | null;
  releaseId: string;
  serving: ServingNow | null;
  /** Begins with "interrupted: dc-release (pid N) stopped during". */
  reason: string;
  stoppedIn: StoppedIn;
  logFile: string | null;
  startedAt: string | null;
  lockedAt: string | null;
  /** It never finished. */
  finishedAt: null;
  /** When the release named by foundBy found it. */
  foundAt: string;
  foundBy: string;
}

export type InterruptedAttempt = CutOffAttempt | DeadAttempt;

/**
 * One of the newest 5 results that were delivered: a killed pulumi up may still not have recorded
 * it (the provider read the line, the program's hooks were gone), so it rides along in every
 * later line and the program records those its deployment log lacks.
 */
export interface UnconfirmedAttempt {
  ok: boolean;
  action: TracedAction;
  tag: string | null;
  digest: string | null;
  releaseId: string;
  serving: ServingNow | null;
  /** Begins with "interrupted: pulumi up ended before it recorded this attempt". */
  reason: string;
  stoppedIn: StoppedIn;
  logFile: string | null;
  startedAt: string;
  finishedAt: string;
}

/** The result of deploy, rollback or remove: the Release component's `result`, the stack's `release` output. */
export interface ReleaseResult {
  ok: boolean;
  action: AttemptAction;
  /** null only when --env was missing (exit 2). */
  env: string | null;
  /** The release attempted: from --image on a deploy, the target on a rollback; null on a remove, or when not known yet. */
  tag: string | null;
  /** --digest on a deploy (as given, on a refusal), the target's on a rollback. */
  digest: string | null;
  /** The repository, without the tag. */
  image: string | null;
  /** The port of the attempted release (the serving one when nothing changed); null when not known yet. */
  port: number | null;
  /** <UTC time>-<tag or action>-<pid>; null when refused before the lock. */
  releaseId: string | null;
  /** The env's previous release as its state has it after the attempt (after a switch: the one replaced); null when none. */
  previous: ReleaseRef | null;
  /** What nginx serves afterwards (on a remove: what served before it). */
  serving: ServingRelease | null;
  changed: boolean;
  pulled: boolean;
  /** A running container of that digest was switched to. */
  reused: boolean;
  /** The attempt failed after its container started, and the old release kept or resumed serving. */
  rolledBack: boolean;
  /** One line saying why it failed; null when ok. */
  reason: string | null;
  /** <root>/<env>/logs/<releaseId>.log: progress, and docker logs of a failed release; null when refused. */
  logFile: string | null;
  exitCode: ExitCode;
  startedAt: string;
  /** When the env lock was taken; null when it never was. */
  lockedAt: string | null;
  finishedAt: string;
  durationMs: number;
  /** Since the start, until nginx was seen serving the new release; null when nothing switched. */
  servingAfterMs: number | null;
  phases: PhaseTimes;
  bake: BakeReport;
  /** When the env's first release was recorded (its lifetime since the last remove); null on an env older than that record. */
  created: string | null;
  /**
   * True when the release now serving had served this env before the one it replaced first did:
   * a return to an earlier release. null when nothing switched or the env's lifetime is unknown.
   */
  wentBack: boolean | null;
  interrupted: InterruptedAttempt[];
  unconfirmed: UnconfirmedAttempt[];
}

/**
 * Arguments refused (exit 2) by check, or by dc-release given an action it does not know or none
 * (`action` is the word it was given, "" for none): the fields of a ReleaseResult, of an attempt
 * that never began.
 */
export interface RefusedResult extends Omit<ReleaseResult, "ok" | "action" | "exitCode"> {
  ok: false;
  action: string;
  exitCode: 2;
}

/** A release as the env's state records it (status's current and previous). */
export interface StateRelease {
  tag: string;
  digest: string;
  image: string;
  port: number | null;
  container: string | null;
  releaseId: string | null;
  /** When it was locked in as current. */
  time: string | null;
}

/** A release image kept on the host, and since when (unix seconds). */
export interface RetainedRelease {
  tag: string;
  digest: string;
  image: string;
  since: number | null;
}

/** `dc-release status`: what the env serves, read without the lock. */
export interface StatusReport {
  ok: true;
  action: "status";
  env: string;
  /** The current release's tag and digest; null when none. */
  tag: string | null;
  digest: string | null;
  /** The current release is the one nginx routes to, its container runs that digest, and it answers its health path. */
  healthy: boolean;
  /** The port nginx routes to. */
  servingPort: number | null;
  current: StateRelease | null;
  previous: StateRelease | null;
  /** Least recently released first. */
  retained: RetainedRelease[];
  created: string | null;
  /*
   * The fields below come only from `status --front-url URL` (what `npm run status` runs): the
   * observation of `pulumi refresh` passes no --front-url, so its line, and the check serialized
   * with it into a stack's state, stay as they were.
   */
  /** One GET of the health path through nginx. */
  front?: FrontProbe;
  /** One probe on the serving port; null when nothing serves. */
  direct?: DirectProbe | null;
  /** The old release still running for an instant rollback; null when none. */
  warm?: WarmRelease | null;
  /** Who holds the env's lock now (a flock test); null when nobody does. */
  lock?: LockHolder | null;
  /** The last line of deploy.log, as the host has it (parseDeployLog reads it); null when none. */
  lastAttempt?: string | null;
  reason: null;
  exitCode: 0;
  durationMs: number;
}

/** status's probe through the front: its HTTP status and the upstream nginx chose (null when missing). */
export interface FrontProbe {
  /** The URL probed: --front-url and the health path. */
  url: string;
  httpStatus: number | null;
  upstream: string | null;
  /** A 2xx from 127.0.0.1:<servingPort>. */
  healthy: boolean;
}

/** status's probe on the serving port, and its container as docker has it. */
export interface DirectProbe {
  port: number;
  container: string;
  running: boolean;
  /** The container's deep-calm.digest label; null when there is no such container. */
  digest: string | null;
  /** What the probe got, in words: "gave 200", "refused the connection", "timed out after 2s", ... */
  answer: string;
  /** The probe got a 2xx. */
  healthy: boolean;
}

/** The warm old release: its container runs on the port nginx does not route to. */
export interface WarmRelease {
  port: number;
  container: string;
  tag: string | null;
  digest: string | null;
  /** Since when it is warm (unix seconds). */
  since: number | null;
}

/** The holder of the env's lock, as it wrote itself down when it took it (null where unknown). */
export interface LockHolder {
  pid: number | null;
  /** deploy, rollback, remove, or stop-warm (the warm release's stop after --warm). */
  action: string | null;
  tag: string | null;
  releaseId: string | null;
  since: string | null;
}

/** `dc-release status` refused (exit 2) or failed before it could look. */
export interface StatusFailure {
  ok: false;
  action: "status";
  env: string | null;
  tag: string | null;
  digest: string | null;
  reason: string;
  exitCode: ExitCode;
  durationMs: number;
}

export type StatusResult = StatusReport | StatusFailure;

/** `dc-release check` passed: a deploy's arguments, each valid; nothing on the host touched. */
export interface CheckResult {
  ok: true;
  action: "check";
  env: string;
  tag: string;
  digest: string;
  /** The repository, without the tag. */
  image: string;
  /** Host state (the auth file's existence and mode) is not looked at. */
  hostStateChecked: false;
  reason: null;
  exitCode: 0;
}

/** `dc-release check` refused an argument (exit 2), or failed before it could look. */
export interface CheckFailure {
  ok: false;
  action: "check";
  env: string | null;
  reason: string;
  exitCode: ExitCode;
  durationMs: number;
}

/** Any line dc-release prints on stdout. */
export type ResultLine = ReleaseResult | StatusResult | CheckResult | CheckFailure | RefusedResult;

/** A ReleaseResult as deploy.log keeps it: `delivered` is there, false, when stdout was gone. */
export interface LoggedResult extends ReleaseResult {
  delivered?: false;
}

/** One line of <root>/<env>/deploy.log. */
export type DeployLogLine = LoggedResult | DeadAttempt;

/**
 * A line that is not a result of the expected kind: `field` and `value` say what does not fit
 * (`missing` when there was no result line at all).
 */
export class ReleaseResultError extends Error {
  constructor(
    message: string,
    public readonly field: string | undefined,
    public readonly value: unknown,
    public readonly missing = false,
  ) {
    super(message);
    // Set again for ObservedRelease's dynamic provider: its serialized copy of this class calls
    // Error as a function, which leaves `this` without a message.
    this.message = message;
    this.name = "ReleaseResultError";
  }
}

/** Where a maintainer finds the format, in every refusal. */
const REFUSED = "dc-release's result line does not fit its format (infra/release-result.ts)";

function show(value: unknown): string {
  if (value === undefined) {
    return "nothing (the field is missing)";
  }
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}... (${text.length} chars)` : text;
}

function refuse(field: string, expected: string, value: unknown): never {
  throw new ReleaseResultError(`${REFUSED}: ${field}: expected ${expected}, got ${show(value)}`, field, value);
}

/** Checks `value` (at `field`, e.g. interrupted[0].serving.port) and returns it typed, or throws. */
type Check<T> = (value: unknown, field: string) => T;

/** One check per field of T, no more, no less: the compiler holds the checks to the types above. */
type Fields<T> = { readonly [K in keyof T]-?: Check<T[K]> };

const string: Check<string> = (v, f) => (typeof v === "string" ? v : refuse(f, "a string", v));

const boolean: Check<boolean> = (v, f) => (typeof v === "boolean" ? v : refuse(f, "true or false", v));

/** A count or a duration in milliseconds. */
const count: Check<number> = (v, f) =>
  Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : refuse(f, "a whole number >= 0", v);

const seconds: Check<number> = (v, f) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : refuse(f, "seconds >= 0", v));

const port: Check<number> = (v, f) =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? (v as number) : refuse(f, "a port 1..65535", v);

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** dc-release's times: UTC with milliseconds. */
const time: Check<string> = (v, f) =>
  typeof v === "string" && ISO_TIME.test(v) ? v : refuse(f, "a UTC time like 2026-12-02T06:49:23.014Z", v);

function oneOf<const T extends readonly (string | number | boolean | null)[]>(...values: T): Check<T[number]> {
  const words = values.map((v) => JSON.stringify(v)).join(" or ");
  return (v, f) => (values.includes(v as T[number]) ? (v as T[number]) : refuse(f, words, v));
}

function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, f) => (v === null ? null : check(v, f));
}

/** A field the host writes only sometimes. */
function optional<T>(check: Check<T>): Check<T | undefined> {
  return (v, f) => (v === undefined ? undefined : check(v, f));
}

function list<T>(item: Check<T>): Check<T[]> {
  return (v, f) => (Array.isArray(v) ? v.map((x, i) => item(x, `${f}[${i}]`)) : refuse(f, "a list", v));
}

const at = (parent: string, key: string): string => (parent === "" ? key : `${parent}.${key}`);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** An object with exactly these fields (optional ones may be absent); `what` names it in a refusal. */
function object<T>(what: string, fields: Fields<T>): Check<T> {
  // Plain arrays and objects only: the checks also run in ObservedRelease's dynamic provider,
  // whose serialized code gets a Set or Map back as a plain object.
  const known: string[] = Object.keys(fields);
  const checks = fields as Record<string, Check<unknown>>;
  return (v, f) => {
    if (!isObject(v)) {
      return refuse(f === "" ? "the line" : f, `${what} as a JSON object`, v);
    }
    // Known fields first, ok the first of them: where ok picked the kind of line, a wrong ok is
    // named rather than the fields of the other kind.
    for (const key of known) {
      checks[key]?.(v[key], at(f, key));
    }
    for (const key of Object.keys(v)) {
      if (!known.includes(key)) {
        refuse(at(f, key), `no such field in ${what}`, v[key]);
      }
    }
    return v as T;
  };
}

const releaseRef = object<ReleaseRef>("a release {tag, digest}", { tag: string, digest: string });

const servingRelease = object<ServingRelease>("the serving release {tag, digest, port}", {
  tag: string,
  digest: string,
  port: nullable(port),
});

const servingNow = object<ServingNow>("what serves {tag, digest, port}", { tag: nullable(string), digest: nullable(string), port });

const stoppedIn = oneOf(...STOPPED_IN);

const phases = object<PhaseTimes>("phases", {
  lockMs: count,
  pullMs: count,
  migrateMs: count,
  startMs: count,
  healthMs: count,
  switchMs: count,
  smokeMs: count,
  bakeMs: count,
});

const bake = object<BakeReport>("bake", {
  seconds,
  verdict: oneOf("off", "passed", "failed", null),
  watchedMs: count,
  requests: count,
  errors: count,
  beforeRequests: count,
  beforeErrors: count,
});

const cutOffAttempt = object<CutOffAttempt>("an interrupted attempt", {
  ok: boolean,
  action: oneOf(...TRACED_ACTIONS),
  env: nullable(string),
  tag: nullable(string),
  digest: nullable(string),
  image: nullable(string),
  releaseId: string,
  serving: nullable(servingNow),
  reason: string,
  stoppedIn,
  logFile: nullable(string),
  startedAt: time,
  lockedAt: nullable(time),
  finishedAt: time,
});

const deadAttempt = object<DeadAttempt>("a killed attempt", {
  ok: oneOf(false),
  action: oneOf(...TRACED_ACTIONS, null),
  env: nullable(string),
  tag: nullable(string),
  digest: nullable(string),
  image: nullable(string),
  releaseId: string,
  serving: nullable(servingNow),
  reason: string,
  stoppedIn,
  logFile: nullable(string),
  startedAt: nullable(time),
  lockedAt: nullable(time),
  finishedAt: oneOf(null),
  foundAt: time,
  foundBy: string,
});

/** A killed attempt is one a later release found (foundAt, foundBy); the others ended with nobody to tell. */
const wasFound = (v: unknown): boolean => isObject(v) && ("foundAt" in v || "foundBy" in v);

const interruptedAttempt: Check<InterruptedAttempt> = (v, f) => (wasFound(v) ? deadAttempt(v, f) : cutOffAttempt(v, f));

const unconfirmedAttempt = object<UnconfirmedAttempt>("an unconfirmed attempt", {
  ok: boolean,
  action: oneOf(...TRACED_ACTIONS),
  tag: nullable(string),
  digest: nullable(string),
  releaseId: string,
  serving: nullable(servingNow),
  reason: string,
  stoppedIn,
  logFile: nullable(string),
  startedAt: time,
  finishedAt: time,
});

/** The fields of a deploy, rollback or remove result but those that tell the kind of line. */
const attemptFields: Fields<Omit<ReleaseResult, "ok" | "action" | "exitCode">> = {
  env: nullable(string),
  tag: nullable(string),
  digest: nullable(string),
  image: nullable(string),
  port: nullable(port),
  releaseId: nullable(string),
  previous: nullable(releaseRef),
  serving: nullable(servingRelease),
  changed: boolean,
  pulled: boolean,
  reused: boolean,
  rolledBack: boolean,
  reason: nullable(string),
  logFile: nullable(string),
  startedAt: time,
  lockedAt: nullable(time),
  finishedAt: time,
  durationMs: count,
  servingAfterMs: nullable(count),
  phases,
  bake,
  created: nullable(time),
  wentBack: nullable(boolean),
  interrupted: list(interruptedAttempt),
  unconfirmed: list(unconfirmedAttempt),
};

const exitCode = oneOf(...EXIT_CODES);

const releaseResult = object<ReleaseResult>("a release result", {
  ok: boolean,
  action: oneOf(...ATTEMPT_ACTIONS),
  exitCode,
  ...attemptFields,
});

const loggedResult = object<LoggedResult>("a deploy.log result", {
  ok: boolean,
  action: oneOf(...ATTEMPT_ACTIONS),
  exitCode,
  ...attemptFields,
  delivered: optional(oneOf(false)),
});

const refusedResult = object<RefusedResult>("a refusal", {
  ok: oneOf(false),
  action: string,
  exitCode: oneOf(2),
  ...attemptFields,
});

const stateRelease = object<StateRelease>("a release of the env's state", {
  tag: string,
  digest: string,
  image: string,
  port: nullable(port),
  container: nullable(string),
  releaseId: nullable(string),
  time: nullable(time),
});

const retainedRelease = object<RetainedRelease>("a retained release", {
  tag: string,
  digest: string,
  image: string,
  since: nullable(count),
});

const frontProbe = object<FrontProbe>("a probe through the front", {
  url: string,
  httpStatus: nullable(count),
  upstream: nullable(string),
  healthy: boolean,
});

const directProbe = object<DirectProbe>("a probe of the serving port", {
  port,
  container: string,
  running: boolean,
  digest: nullable(string),
  answer: string,
  healthy: boolean,
});

const warmRelease = object<WarmRelease>("a warm release", {
  port,
  container: string,
  tag: nullable(string),
  digest: nullable(string),
  since: nullable(count),
});

const lockHolder = object<LockHolder>("a lock holder", {
  pid: nullable(count),
  action: nullable(string),
  tag: nullable(string),
  releaseId: nullable(string),
  since: nullable(time),
});

const statusReportFields = object<StatusReport>("a status report", {
  ok: oneOf(true),
  action: oneOf("status"),
  env: string,
  tag: nullable(string),
  digest: nullable(string),
  healthy: boolean,
  servingPort: nullable(port),
  current: nullable(stateRelease),
  previous: nullable(stateRelease),
  retained: list(retainedRelease),
  created: nullable(time),
  front: optional(frontProbe),
  direct: optional(nullable(directProbe)),
  warm: optional(nullable(warmRelease)),
  lock: optional(nullable(lockHolder)),
  lastAttempt: optional(nullable(string)),
  reason: oneOf(null),
  exitCode: oneOf(0),
  durationMs: count,
});

/** The fields `status --front-url` adds: all of them, or none (the observation's line). */
const STATUS_DETAIL = ["front", "direct", "warm", "lock", "lastAttempt"] as const;

const statusReport: Check<StatusReport> = (v, f) => {
  const report = statusReportFields(v, f);
  const given = STATUS_DETAIL.filter((key) => key in report);
  const missing = STATUS_DETAIL.find((key) => !(key in report));
  if (given.length > 0 && missing !== undefined) {
    refuse(at(f, missing), `a field of status --front-url, as ${given.join(", ")} are there`, undefined);
  }
  return report;
};

const statusFailure = object<StatusFailure>("a failed status", {
  ok: oneOf(false),
  action: oneOf("status"),
  env: nullable(string),
  tag: nullable(string),
  digest: nullable(string),
  reason: string,
  exitCode,
  durationMs: count,
});

const checkResult = object<CheckResult>("a check result", {
  ok: oneOf(true),
  action: oneOf("check"),
  env: string,
  tag: string,
  digest: string,
  image: string,
  hostStateChecked: oneOf(false),
  reason: oneOf(null),
  exitCode: oneOf(0),
});

const checkFailure = object<CheckFailure>("a failed check", {
  ok: oneOf(false),
  action: oneOf("check"),
  env: nullable(string),
  reason: string,
  exitCode,
  durationMs: count,
});

/** The kind of line is told by its action (and, for status and check, by ok). */
const resultLine: Check<ResultLine> = (v, f) => {
  if (!isObject(v)) {
    return refuse("the line", "a JSON object", v);
  }
  switch (v.action) {
    case "deploy":
    case "rollback":
    case "remove":
      return releaseResult(v, f);
    case "status":
      return v.ok === false ? statusFailure(v, f) : statusReport(v, f);
    case "check":
      return v.ok === false ? checkFailure(v, f) : checkResult(v, f);
    default:
      return typeof v.action === "string" ? refusedResult(v, f) : refuse("action", "the action's name", v.action);
  }
};

const deployLogLine: Check<DeployLogLine> = (v, f) => (wasFound(v) ? deadAttempt(v, f) : loggedResult(v, f));

/** Parses one line of JSON and checks it, naming the line's place in a refusal. */
function parseJson<T>(line: string, check: Check<T>, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new ReleaseResultError(`${REFUSED}: ${where} is not JSON (${(err as Error).message}): ${show(line)}`, undefined, line);
  }
  return check(value, "");
}

/**
 * The one parser: finds dc-release's result line in `text` (its stdout, or an error text holding
 * it, with progress before and after) and checks it. The result line is the last line that begins
 * with "{" (spaces aside): no progress line does. Throws a ReleaseResultError: `missing` when
 * there is no such line, else naming the field and the value that do not fit.
 */
export function parseResultLine(text: string): ResultLine {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .reverse()
    .find((l) => l.startsWith("{"));
  if (line === undefined) {
    const tail = text.trim().slice(-300);
    throw new ReleaseResultError(
      `dc-release printed no result line; its output ${tail === "" ? "was empty" : `ended with: ${tail}`}`,
      undefined,
      undefined,
      true,
    );
  }
  return parseJson(line, resultLine, "the line");
}

function expectKind<T extends ResultLine>(line: ResultLine, is: (l: ResultLine) => l is T, expected: string): T {
  if (!is(line)) {
    refuse("action", expected, line.action);
  }
  return line;
}

const isReleaseResult = (l: ResultLine): l is ReleaseResult => (ATTEMPT_ACTIONS as readonly string[]).includes(l.action);

/** The result of deploy, rollback or remove in `text` (see parseResultLine); any other line is refused. */
export function parseReleaseResult(text: string): ReleaseResult {
  return expectKind(parseResultLine(text), isReleaseResult, 'the result of "deploy", "rollback" or "remove"');
}

/** The status report in `text` (see parseResultLine); a failed status or any other line is refused. */
export function parseStatusReport(text: string): StatusReport {
  const line = parseResultLine(text);
  if (line.action === "status" && !line.ok) {
    throw new ReleaseResultError(`dc-release status failed (exit ${line.exitCode}): ${line.reason}`, "reason", line.reason);
  }
  return expectKind(line, (l): l is StatusReport => l.action === "status", 'the result of "status"');
}

/**
 * A result already parsed from JSON (the stack's `release` output, which is a ReleaseResult),
 * checked as parseReleaseResult checks the line.
 */
export function releaseResultFrom(value: unknown): ReleaseResult {
  return releaseResult(value, "");
}

/** Every line of a deploy.log, checked; a refusal names the line's number. */
export function parseDeployLog(text: string): DeployLogLine[] {
  return text
    .split("\n")
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => line.trim() !== "")
    .map(({ line, n }) => {
      try {
        return parseJson(line, deployLogLine, `deploy.log line ${n}`);
      } catch (err) {
        if (err instanceof ReleaseResultError && err.field !== undefined) {
          throw new ReleaseResultError(`deploy.log line ${n}: ${err.message}`, err.field, err.value);
        }
        throw err;
      }
    });
}
