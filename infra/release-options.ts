/**
 * Every option of host/dc-release, once: its config key, host flag, type, bounds, default,
 * description and the actions that take it, and the rules between options.
 *
 * From this table come the validation of these config keys (stacks/config.ts), the argv the
 * program passes (infra/release.ts: every option, always), their declarations in Pulumi.yaml,
 * and dc-release's own defaults, checks, options per action and option usage (its generated
 * sections; `npm run gen:host` writes them, a unit test fails when they are stale). The bounds
 * are the host's bounds, so a value `pulumi preview` accepts is one the host accepts.
 */
import { ConfigValueError, showValue } from "./errors";

/** How a release is gated and switched on the host; every field is one dc-release option. */
export interface ReleaseSettings {
  /** Release root on the host, e.g. /opt/deep-calm. */
  root: string;
  /** The two loopback ports the blue and green releases take turns on. */
  ports: [number, number];
  healthPath: string;
  healthRetries: number;
  /** Good probes in a row a new release needs. */
  healthSuccesses: number;
  healthIntervalSeconds: number;
  healthTimeoutSeconds: number;
  drainSeconds: number;
  /** Seconds the old release stays running after a switch, so a rollback is only an nginx switch. */
  warmSeconds: number;
  /** Seconds after the switch the new release is watched while the old one is warm; 0 = off. */
  bakeSeconds: number;
  /** Release images kept on the host, so rolling back to them needs no pull. */
  keepReleases: number;
  /** Run in a one-off container before the switch; empty for none. */
  migrateCommand: string;
  /** Seconds the migration may run; then its container is removed and nothing switches. */
  migrateTimeoutSeconds: number;
  /** Seconds a stopping release gets between SIGTERM and SIGKILL (`docker stop -t`). */
  stopTimeoutSeconds: number;
  /** The nginx front as the host reaches it (not the users' publicUrl); the switch is verified through it. */
  frontUrl: string;
  /** Paths checked through nginx after the switch. */
  smokePaths: string[];
  /**
   * netrc for basic auth on the checks through nginx (0600 on the host), if the env has basic auth:
   * where ComposeProject uploaded it (its `authFile`), so the release never names a file that is not there.
   */
  authFile?: string;
  lockTimeoutSeconds: number;
  /** Seconds the front may take to show the new release after the switch. */
  switchTimeoutSeconds: number;
  /** Review envs (pr-*) the host holds at most; a new one past it is refused. */
  maxReviewEnvs: number;
}

/** The actions of dc-release that take options; `check` takes exactly what `deploy` takes. */
export type OptionAction = "deploy" | "rollback" | "status" | "remove";
export const RELEASE_ACTIONS = ["deploy", "rollback", "status", "remove", "check"] as const;
export type ReleaseAction = (typeof RELEASE_ACTIONS)[number];

/**
 * Patterns both sides use, each read as a JavaScript RegExp here and as a bash ERE (`[[ =~ ]]`)
 * on the host, so they keep to what both read alike: anchors, bracket lists, groups, {m,n}.
 */
export const PATTERNS = {
  /** Integers as the host reads them: 10#N of at most 6 digits. */
  INTEGER_RE: "^[0-9]{1,6}$",
  /** Seconds with up to 3 decimals: the host counts in milliseconds. */
  DECIMAL_RE: "^[0-9]{1,5}(\\.[0-9]{1,3})?$",
  PATH_RE: "^/[A-Za-z0-9._/-]*$",
  URL_PATH_RE: "^/[A-Za-z0-9._~/%?=&+-]*$",
  URL_RE: "^https?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:]+\\])(:[0-9]{1,5})?$",
  PORTS_RE: "^([0-9]{4,5}),([0-9]{4,5})$",
} as const;

const RE = Object.fromEntries(Object.entries(PATTERNS).map(([k, p]) => [k, new RegExp(p)])) as Record<keyof typeof PATTERNS, RegExp>;

interface OptionBase {
  /** The config key that sets it; null when the program derives it from the key `from`. */
  key: string | null;
  /** Of a derived option: the config key it comes from, named when its value is refused. */
  from?: string;
  flag: string;
  /** The bash global that holds it in dc-release. */
  variable: string;
  /** What the usage shows after the flag. */
  metavar: string;
  /** One or two sentences for the config reference and the host's usage alike. */
  description: string;
  actions: readonly OptionAction[];
}

export type OptionSpec =
  | (OptionBase & { kind: "integer"; min: number; max: number; default: number })
  | (OptionBase & { kind: "seconds"; min: number; max: number; default: number })
  | (OptionBase & { kind: "absolutePath"; maxLength: number; default: string })
  | (OptionBase & { kind: "urlPath"; maxLength: number; default: string })
  | (OptionBase & { kind: "portPair"; min: number; max: number; default: [number, number] })
  | (OptionBase & { kind: "command"; maxBytes: number; default: string })
  | (OptionBase & { kind: "frontUrl"; default: string })
  | (OptionBase & { kind: "urlPaths"; maxLength: number; default: string[] })
  | (OptionBase & { kind: "netrcPath"; maxLength: number; default: undefined });

export type OptionKind = OptionSpec["kind"];

interface KindValue {
  integer: number;
  seconds: number;
  absolutePath: string;
  urlPath: string;
  portPair: [number, number];
  command: string;
  frontUrl: string;
  urlPaths: string[];
  netrcPath: string | undefined;
}

/** The kinds whose values have the type of a settings field. */
type KindFor<T> = { [K in OptionKind]: [KindValue[K]] extends [T] ? ([T] extends [KindValue[K]] ? K : never) : never }[OptionKind];

type OptionTable = { [F in keyof ReleaseSettings]-?: Extract<OptionSpec, { kind: KindFor<ReleaseSettings[F]> }> };

const DEPLOY_ROLLBACK: readonly OptionAction[] = ["deploy", "rollback"];

/** The table, in the order of the argv and of the usage. */
export const RELEASE_OPTIONS: OptionTable = {
  root: {
    key: "hostRoot",
    flag: "--root",
    variable: "ROOT",
    metavar: "DIR",
    kind: "absolutePath",
    maxLength: 200,
    default: "/opt/deep-calm",
    description: "Directory on the server holding one subdirectory per environment, named after it.",
    actions: ["deploy", "rollback", "status", "remove"],
  },
  ports: {
    key: "appPorts",
    flag: "--ports",
    variable: "PORTS",
    metavar: "A,B",
    kind: "portPair",
    min: 1024,
    max: 65535,
    default: [8101, 8102],
    description: "The two loopback ports blue and green releases take turns on.",
    actions: ["deploy", "rollback", "status"],
  },
  healthPath: {
    key: "healthPath",
    flag: "--health-path",
    variable: "HEALTH_PATH",
    metavar: "P",
    kind: "urlPath",
    maxLength: 200,
    default: "/healthz",
    description: "Path the health gate probes on a new release (on its port, then through nginx).",
    actions: ["deploy", "rollback", "status"],
  },
  healthRetries: {
    key: "healthRetries",
    flag: "--health-retries",
    variable: "HEALTH_RETRIES",
    metavar: "N",
    kind: "integer",
    min: 1,
    max: 10000,
    default: 60,
    description: "Health probes before a release is declared unhealthy.",
    actions: DEPLOY_ROLLBACK,
  },
  healthSuccesses: {
    key: "healthSuccesses",
    flag: "--health-successes",
    variable: "HEALTH_SUCCESSES",
    metavar: "N",
    kind: "integer",
    min: 1,
    max: 10,
    default: 2,
    description:
      "Good probes in a row a new release needs, spaced by the interval up to 0.2 s: one lucky probe must not pass an app that dies right after it starts.",
    actions: DEPLOY_ROLLBACK,
  },
  healthIntervalSeconds: {
    key: "healthInterval",
    flag: "--health-interval",
    variable: "HEALTH_INTERVAL",
    metavar: "S",
    kind: "seconds",
    min: 0.005,
    max: 60,
    default: 0.5,
    description: "Seconds between health probes.",
    actions: DEPLOY_ROLLBACK,
  },
  healthTimeoutSeconds: {
    key: "healthTimeout",
    flag: "--health-timeout",
    variable: "HEALTH_TIMEOUT",
    metavar: "S",
    kind: "seconds",
    min: 0.05,
    max: 60,
    default: 2,
    description: "Seconds one health probe may take.",
    actions: ["deploy", "rollback", "status"],
  },
  drainSeconds: {
    key: "drainSeconds",
    flag: "--drain",
    variable: "DRAIN",
    metavar: "S",
    kind: "seconds",
    min: 0,
    max: 600,
    default: 2,
    description:
      "At most this many seconds the old release keeps finishing its in-flight requests after nginx switched away from it; the drain ends as soon as none is left.",
    actions: DEPLOY_ROLLBACK,
  },
  warmSeconds: {
    key: "warmSeconds",
    flag: "--warm",
    variable: "WARM",
    metavar: "S",
    kind: "seconds",
    min: 0,
    max: 86400,
    default: 60,
    description: "Seconds the old release stays running after a switch, so rolling back is only an nginx switch.",
    actions: DEPLOY_ROLLBACK,
  },
  bakeSeconds: {
    key: "bakeSeconds",
    flag: "--bake",
    variable: "BAKE",
    metavar: "S",
    kind: "seconds",
    min: 0,
    max: 3600,
    default: 10,
    description:
      "Seconds after the switch the new release is watched (health direct and through nginx, container exits and restarts, its 5xx share against the old release's) while the old one is still warm; when it goes bad, nginx goes back to the old release and the attempt fails. 0 turns it off.",
    actions: DEPLOY_ROLLBACK,
  },
  keepReleases: {
    key: "keepReleases",
    flag: "--keep",
    variable: "KEEP",
    metavar: "N",
    kind: "integer",
    min: 2,
    max: 100,
    default: 3,
    description: "Release images kept on the server, so a rollback needs no pull.",
    actions: DEPLOY_ROLLBACK,
  },
  migrateCommand: {
    key: "migrateCommand",
    flag: "--migrate",
    variable: "MIGRATE",
    metavar: "CMD",
    kind: "command",
    maxBytes: 2000,
    default: "alembic upgrade head",
    description:
      "Migration command, run as `sh -c CMD` in a one-off container of the new image before the start. A rollback runs none: its schema was migrated when it first shipped.",
    actions: ["deploy"],
  },
  migrateTimeoutSeconds: {
    key: "migrateTimeout",
    flag: "--migrate-timeout",
    variable: "MIGRATE_TIMEOUT",
    metavar: "S",
    kind: "seconds",
    min: 1,
    max: 86400,
    default: 600,
    description: "Seconds the migration may run; then its container is removed, nothing switches and the old release keeps serving.",
    actions: ["deploy"],
  },
  stopTimeoutSeconds: {
    key: "stopTimeout",
    flag: "--stop-timeout",
    variable: "STOP_TIMEOUT",
    metavar: "N",
    kind: "integer",
    min: 0,
    max: 600,
    default: 10,
    description: "Seconds a stopping release gets to finish after SIGTERM before it is killed (docker stop -t).",
    actions: DEPLOY_ROLLBACK,
  },
  frontUrl: {
    key: null,
    from: "nginxListen",
    flag: "--front-url",
    variable: "FRONT_URL",
    metavar: "URL",
    kind: "frontUrl",
    // What a release run by hand on the local target needs (tests, benches): its nginx listens there.
    default: "http://127.0.0.1:8080",
    description:
      "The env's nginx front as the host itself reaches it; the switch, the smoke checks and the bake go through it. The program derives it from nginxListen. Given to status (npm run status does), it also probes the front and reports the warm release, the lock holder and the last attempt.",
    actions: ["deploy", "rollback", "status"],
  },
  smokePaths: {
    key: "smokePaths",
    flag: "--smoke",
    variable: "SMOKE",
    metavar: "P",
    kind: "urlPaths",
    maxLength: 200,
    default: ["/healthz"],
    description: "Paths checked through nginx (with basic auth where the env has it) after the switch.",
    actions: DEPLOY_ROLLBACK,
  },
  authFile: {
    key: null,
    from: "hostRoot",
    flag: "--auth-file",
    variable: "AUTH_FILE",
    metavar: "FILE",
    kind: "netrcPath",
    maxLength: 200,
    default: undefined,
    description:
      "netrc file (mode 0600) with the basic-auth user of the front, for the checks through nginx (curl --netrc-file). The program uploads it as <root>/<env>/smoke.netrc for envs with basic auth.",
    actions: ["deploy", "rollback", "status"],
  },
  lockTimeoutSeconds: {
    key: "lockTimeout",
    flag: "--lock-timeout",
    variable: "LOCK_TIMEOUT",
    metavar: "S",
    kind: "integer",
    min: 0,
    max: 3600,
    default: 120,
    description: "Seconds a release waits for another release of the same env to finish.",
    actions: ["deploy", "rollback", "remove"],
  },
  switchTimeoutSeconds: {
    key: "switchTimeout",
    flag: "--switch-timeout",
    variable: "SWITCH_TIMEOUT",
    metavar: "S",
    kind: "seconds",
    min: 0.1,
    max: 600,
    default: 10,
    description:
      "Seconds the front may take to show the new release after the switch. Only an env's first release waits on nginx (its reload enables the site); later switches are instant.",
    actions: DEPLOY_ROLLBACK,
  },
  maxReviewEnvs: {
    key: "reviewMaxEnvs",
    flag: "--max-review-envs",
    variable: "MAX_REVIEW_ENVS",
    metavar: "N",
    kind: "integer",
    min: 1,
    max: 1000,
    default: 10,
    description:
      "Review environments (pr-<n>) the host holds at most under the root: the first release of one more is refused, naming those it holds.",
    actions: DEPLOY_ROLLBACK,
  },
};

export type OptionField = keyof ReleaseSettings;

/** The table's entries in its order. */
export function releaseOptions(): [OptionField, OptionSpec][] {
  return Object.entries(RELEASE_OPTIONS) as [OptionField, OptionSpec][];
}

/** A rule between two options: `field` may not exceed `atMost` (both seconds). */
export interface AtMostRule {
  field: OptionField;
  atMost: OptionField;
  why: string;
}

/** The bake can only go back to an old release that still runs: it never outlasts the warm period. */
export const CROSS_RULES: readonly AtMostRule[] = [
  { field: "bakeSeconds", atMost: "warmSeconds", why: "the old release must still run to go back to" },
];

/** The arguments that name what to release rather than how; checked by hand on both sides. */
export const TARGET_ARGS = [
  { flag: "--env", variable: "ENV_NAME", metavar: "ENV", actions: ["deploy", "rollback", "status", "remove"] },
  { flag: "--image", variable: "IMAGE", metavar: "REPO:TAG", actions: ["deploy"] },
  { flag: "--digest", variable: "DIGEST", metavar: "sha256:HEX64", actions: ["deploy"] },
  { flag: "--to", variable: "TO_TAG", metavar: "TAG", actions: ["rollback"] },
] as const satisfies readonly { flag: string; variable: string; metavar: string; actions: readonly OptionAction[] }[];

/** Whether `action` takes an option declared for `actions` (check takes what deploy takes). */
export function takes(actions: readonly OptionAction[], action: ReleaseAction): boolean {
  return actions.includes(action === "check" ? "deploy" : action);
}

// ---- what is allowed, in words ----------------------------------------------------------------

/**
 * What a value of the option may be, in words: for the config (errors, Pulumi.yaml, with examples
 * in config's own form) or for the host's usage.
 */
export function allowedText(spec: OptionSpec, side: "config" | "host" = "config"): string {
  const config = side === "config";
  const path = "letters, digits and . _ - /; no //, . or .. parts";
  const urlPath = "letters, digits and . _ ~ / % ? = & + -";
  switch (spec.kind) {
    case "integer":
      return `an integer from ${spec.min} to ${spec.max}`;
    case "seconds":
      return `a number of seconds from ${spec.min} to ${spec.max} (at most 3 decimals)`;
    case "absolutePath":
      return `a normalized absolute path such as ${spec.default} (${path}), at most ${spec.maxLength} characters`;
    case "netrcPath":
      return `a normalized absolute path (${path}), at most ${spec.maxLength} characters; empty for none`;
    case "urlPath":
      return `an absolute URL path such as ${spec.default} (${urlPath}), at most ${spec.maxLength} characters`;
    case "urlPaths":
      return config
        ? `a list of absolute URL paths such as ${JSON.stringify(spec.default)} (${urlPath}), each at most ${spec.maxLength} characters`
        : `an absolute URL path (${urlPath}), at most ${spec.maxLength} characters`;
    case "portPair":
      return `two different loopback ports from ${spec.min} to ${spec.max}, e.g. ${config ? `[${spec.default.join(", ")}]` : spec.default.join(",")}`;
    case "command":
      return config
        ? `a one-line command of at most ${spec.maxBytes} bytes without control characters (tabs included), e.g. '${spec.default}', or empty for none`
        : `one line of at most ${spec.maxBytes} bytes without control characters (tabs included); empty for none`;
    case "frontUrl":
      return "an http:// or https:// URL of HOST[:PORT] without a path";
  }
}

// ---- validation of config values ----------------------------------------------------------------

function reject(key: string, value: unknown, spec: OptionSpec): never {
  throw new ConfigValueError(key, showValue(value, false), `use ${allowedText(spec)}`);
}

/** Milliseconds of a decimal text of at most 3 decimals, exactly (the host's to_ms). */
function millis(text: string): number {
  const [whole = "0", frac = ""] = text.split(".");
  return Number(whole) * 1000 + Number(frac.padEnd(3, "0"));
}

function isAbsolutePath(value: string, maxLength: number): boolean {
  return (
    RE.PATH_RE.test(value) &&
    value.length <= maxLength &&
    !value.includes("//") &&
    !`/${value}/`.includes("/./") &&
    !`/${value}/`.includes("/../")
  );
}

function isUrlPath(value: unknown, maxLength: number): value is string {
  return typeof value === "string" && RE.URL_PATH_RE.test(value) && value.length <= maxLength;
}

/** The characters the host refuses in a one-line command (bash's [[:cntrl:]] in the C locale). */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Validates one option's value as config gives it (seconds as a number or a decimal string:
 * Pulumi config has no decimal type) and returns it as the program passes it on. `key` is named
 * in the error.
 */
export function checkOption<F extends OptionField>(field: F, key: string, value: unknown): ReleaseSettings[F];
export function checkOption(field: OptionField, key: string, value: unknown): unknown {
  const spec = RELEASE_OPTIONS[field];
  switch (spec.kind) {
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        reject(key, value, spec);
      }
      return value;
    case "seconds": {
      const text = typeof value === "number" ? String(value) : value;
      if (
        typeof text !== "string" ||
        !RE.DECIMAL_RE.test(text) ||
        millis(text) < Math.round(spec.min * 1000) ||
        millis(text) > Math.round(spec.max * 1000)
      ) {
        reject(key, value, spec);
      }
      return Number(text);
    }
    case "absolutePath":
      if (typeof value !== "string" || !isAbsolutePath(value, spec.maxLength)) {
        reject(key, value, spec);
      }
      return value.length > 1 ? value.replace(/\/+$/, "") : value;
    case "netrcPath":
      if (value === undefined || value === "") {
        return undefined;
      }
      if (typeof value !== "string" || !isAbsolutePath(value, spec.maxLength)) {
        reject(key, value, spec);
      }
      return value;
    case "urlPath":
      if (!isUrlPath(value, spec.maxLength)) {
        reject(key, value, spec);
      }
      return value;
    case "urlPaths":
      if (!Array.isArray(value)) {
        reject(key, value, spec);
      }
      return value.map((path: unknown, i) => {
        if (!isUrlPath(path, spec.maxLength)) {
          reject(`${key}[${i}]`, path, spec);
        }
        return path;
      });
    case "portPair": {
      const ok = (p: unknown) => typeof p === "number" && Number.isInteger(p) && p >= spec.min && p <= spec.max;
      if (!Array.isArray(value) || value.length !== 2 || !ok(value[0]) || !ok(value[1]) || value[0] === value[1]) {
        reject(key, value, spec);
      }
      return [value[0], value[1]];
    }
    case "command":
      // The host counts bytes (bash in the C locale), so a command is measured in UTF-8 here too.
      if (typeof value !== "string" || Buffer.byteLength(value, "utf8") > spec.maxBytes || CONTROL.test(value)) {
        reject(key, value, spec);
      }
      return value;
    case "frontUrl":
      if (typeof value !== "string" || !RE.URL_RE.test(value)) {
        reject(key, value, spec);
      }
      return value;
  }
}

/** What the program derives rather than reads: the front from nginxListen, the netrc from hostRoot. */
export interface DerivedOptions {
  frontUrl: string;
  /**
   * Where the env's smoke netrc will be under `root`, or undefined when the env has no basic auth.
   * Only checked here: the release names the file ComposeProject uploads (the same path).
   */
  authFile: (root: string) => string | undefined;
}

/**
 * Every release setting from config: each key read (its table default when unset), validated
 * against the table's bounds, then the rules between options. A derived value the host would
 * refuse is refused naming the key it comes from.
 */
export function releaseSettingsFrom(read: (key: string) => unknown, derived: DerivedOptions): ReleaseSettings {
  const out: Record<string, unknown> = {};
  const raw: Record<string, unknown> = {};
  for (const [field, spec] of releaseOptions()) {
    if (spec.key !== null) {
      raw[field] = read(spec.key) ?? spec.default;
      out[field] = checkOption(field, spec.key, raw[field]);
      continue;
    }
    // Derived by the program: checked as the host checks it, and refused naming the key it comes from.
    const value = field === "frontUrl" ? derived.frontUrl : derived.authFile(out.root as string);
    let checked: unknown;
    try {
      checked = checkOption(field, spec.flag, value);
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      const from = spec.from ?? field;
      throw new ConfigValueError(from, showValue(read(from), false), `it gives ${spec.flag} ${showValue(value, false)}; ${err.allowed}`);
    }
    // The netrc is only checked: the release names the file ComposeProject uploads (the same path).
    if (field !== "authFile") {
      out[field] = checked;
    }
  }
  const settings = out as unknown as ReleaseSettings;
  for (const rule of CROSS_RULES) {
    const [spec, limit] = [RELEASE_OPTIONS[rule.field], RELEASE_OPTIONS[rule.atMost]];
    if ((settings[rule.field] as number) > (settings[rule.atMost] as number)) {
      throw new ConfigValueError(
        spec.key ?? rule.field,
        showValue(raw[rule.field], false),
        `use at most ${limit.key ?? rule.atMost} (${String(settings[rule.atMost])}): ${rule.why}`,
      );
    }
  }
  return settings;
}

/** The table's defaults as settings (what a host run without options gets), e.g. for tests and benches. */
export function defaultReleaseSettings(): ReleaseSettings {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of releaseOptions()) {
    out[field] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  return out as unknown as ReleaseSettings;
}

// ---- the argv ----------------------------------------------------------------------------------

/** One option's tokens: every option is passed, a list as one flag per entry ('' for none). */
function optionTokens(spec: OptionSpec, value: unknown): string[] {
  switch (spec.kind) {
    case "portPair":
      return [spec.flag, (value as [number, number]).join(",")];
    case "urlPaths": {
      const paths = value as string[];
      return paths.length === 0 ? [spec.flag, ""] : paths.flatMap((p) => [spec.flag, p]);
    }
    case "netrcPath":
      return [spec.flag, (value as string | undefined) ?? ""];
    default:
      return [spec.flag, String(value)];
  }
}

/** Every option `action` takes, in the table's order. */
export function optionArgv(action: ReleaseAction, s: ReleaseSettings): string[] {
  return releaseOptions()
    .filter(([, spec]) => takes(spec.actions, action))
    .flatMap(([field, spec]) => optionTokens(spec, s[field]));
}
