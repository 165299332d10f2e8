/**
 * The app's own secrets (API keys, DSNs, certificates), declared as the `appSecrets` map and set
 * with `pulumi config set --secret --path 'appSecrets.KEY'`. They reach the release byte for byte:
 *
 * - a value `docker run --env-file` carries intact goes to `<env>/app-secrets.env` (0600) as
 *   `KEY=value`: docker reads that file literally (no quotes, no `$`, spaces and `#` kept), and
 *   compose never reads it, so its interpolation of `.env` is not in the way;
 * - a value it cannot carry (a line break, a NUL, over 32 KiB) goes to `<env>/secrets/KEY` (0400),
 *   mounted read-only at `/run/secrets/KEY`, and the env file says `KEY_FILE=/run/secrets/KEY`.
 *
 * Both reach the host on stdin of a command (never its command line), as Pulumi secrets.
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigValueError, showValue } from "./errors";

export const SECRETS_MOUNT = "/run/secrets";

/** What the engine hands the program for the `appSecrets` key. */
export interface AppSecretsConfig {
  /** The map as JSON text (pulumi.runtime.getConfig), or undefined when unset. */
  raw: string | undefined;
  /** Whether the engine marks the key as a secret (an entry was set with --secret). */
  storedAsSecret: boolean;
  /** Entries the stack file holds in plain text (plainAppSecretEntries). */
  plainEntries?: string[];
}

const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;
/** docker reads an env file line by line with a 64 KiB buffer; longer values go to a file. */
const MAX_ENV_VALUE_BYTES = 32 * 1024;
/** A lone UTF-16 surrogate would reach the host as U+FFFD, not as what was set. */
const LONE_SURROGATE = /\p{Cs}/u;

const setAgain = (key: string) => `set it again with \`pulumi config set --secret --path 'appSecrets.${key}'\``;

/**
 * True when docker's env file cannot carry the value intact: it splits lines at \n, drops a \r
 * before it, and no environment variable can hold a NUL.
 */
export function needsFile(value: string): boolean {
  return /[\0\r\n]/.test(value) || Buffer.byteLength(value, "utf8") > MAX_ENV_VALUE_BYTES;
}

function parseMap(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined || raw === "") {
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigValueError(
      "appSecrets",
      "[secret]",
      "use a map of KEY: value, set with `pulumi config set --secret --path 'appSecrets.KEY'`",
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigValueError(
      "appSecrets",
      "[secret]",
      "use a map of KEY: value, set with `pulumi config set --secret --path 'appSecrets.KEY'`",
    );
  }
  return value as Record<string, unknown>;
}

function checkEntry(key: string, value: unknown, taken: ReadonlySet<string>): string {
  if (!ENV_KEY.test(key)) {
    throw new ConfigValueError("appSecrets", showValue(key, false), "use variable names of A-Z, 0-9 and _ as keys");
  }
  if (typeof value !== "string") {
    throw new ConfigValueError(`appSecrets.${key}`, "[secret]", `use a string: ${setAgain(key)}`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new ConfigValueError(`appSecrets.${key}`, "[secret]", "use valid Unicode text (it holds a lone UTF-16 surrogate)");
  }
  if (taken.has(key)) {
    throw new ConfigValueError(
      `appSecrets.${key}`,
      "[secret]",
      `${key} is already in the app's environment (appEnvironment, or set by the program: ${[...taken].sort().join(", ")}); use another name`,
    );
  }
  return value;
}

/**
 * The validated app secrets. `taken` are the variables the app already gets (appEnvironment and
 * those the program and dc-release set); a secret may not shadow one. Values are never shown.
 */
export function parseAppSecrets(config: AppSecretsConfig | undefined, taken: Iterable<string>): Record<string, string> {
  const map = parseMap(config?.raw);
  const keys = Object.keys(map).sort();
  if (keys.length === 0) {
    return {};
  }
  const [plain] = config?.storedAsSecret ? (config.plainEntries ?? []) : keys;
  if (plain !== undefined) {
    throw new ConfigValueError(`appSecrets.${plain}`, "[secret]", `it is stored in plain text: ${setAgain(plain)}`);
  }
  const reserved = new Set(taken);
  const secrets: Record<string, string> = {};
  for (const key of keys) {
    secrets[key] = checkEntry(key, map[key], reserved);
  }
  for (const key of keys.filter((k) => needsFile(secrets[k] ?? ""))) {
    const pointer = `${key}_FILE`;
    if (pointer in secrets || reserved.has(pointer)) {
      throw new ConfigValueError(
        `appSecrets.${key}`,
        "[secret]",
        `its value is mounted as a file and ${pointer} names it, but ${pointer} is set already; rename one of them`,
      );
    }
  }
  return secrets;
}

/**
 * What ComposeProject uploads (its `appSecrets`), both as secrets; undefined when there are no app
 * secrets. Throws ConfigValueError for a bad entry, never showing a value.
 */
export function appSecretUploads(
  config: AppSecretsConfig | undefined,
  taken: Iterable<string>,
): { envFile: pulumi.Output<string>; files: pulumi.Output<string> } | undefined {
  const secrets = parseAppSecrets(config, taken);
  if (Object.keys(secrets).length === 0) {
    return undefined;
  }
  return { envFile: pulumi.secret(renderAppSecretsEnv(secrets)), files: pulumi.secret(renderSecretFiles(secrets)) };
}

/**
 * `app-secrets.env` for `docker run --env-file`: `KEY=value` per line, read literally by docker,
 * and `KEY_FILE=/run/secrets/KEY` for the values that are files.
 */
export function renderAppSecretsEnv(secrets: Record<string, string>): string {
  return Object.keys(secrets)
    .sort()
    .map((key) => {
      const value = secrets[key] ?? "";
      return needsFile(value) ? `${key}_FILE=${SECRETS_MOUNT}/${key}\n` : `${key}=${value}\n`;
    })
    .join("");
}

/** The values that are files, one `KEY <base64>` line each, for writeSecretFilesArgv's stdin. */
export function renderSecretFiles(secrets: Record<string, string>): string {
  return Object.keys(secrets)
    .sort()
    .filter((key) => needsFile(secrets[key] ?? ""))
    .map((key) => `${key} ${Buffer.from(secrets[key] ?? "", "utf8").toString("base64")}\n`)
    .join("");
}

/**
 * Writes the files renderSecretFiles lists into `dir` (0700) as `dir/KEY` (0400, each replaced by
 * a rename, so a serving release keeps the file it mounted), and removes files no longer listed.
 * The values arrive on stdin; base64 keeps their bytes, line breaks included.
 */
export function writeSecretFilesArgv(dir: string): string[] {
  const script = [
    'set -e; umask 077; d=$1; mkdir -p "$d"; chmod 0700 "$d"; keep=" "',
    "while read -r key data; do",
    '  rm -f "$d/.$key.tmp"; printf %s "$data" | base64 -d >"$d/.$key.tmp"',
    '  chmod 0400 "$d/.$key.tmp"; mv -f "$d/.$key.tmp" "$d/$key"; keep="$keep$key "',
    "done",
    'for f in "$d"/*; do',
    '  [ -f "$f" ] || continue',
    '  case "$keep" in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac',
    "done",
  ].join("\n");
  return ["sh", "-c", script, "write-secret-files", dir];
}

/**
 * Entries under `<project>:appSecrets` that a stack file holds in plain text (an entry set without
 * --secret); the engine only says whether the map as a whole holds a secret.
 */
export function plainAppSecretEntries(stackConfig: unknown, project: string): string[] {
  const config = (stackConfig as { config?: Record<string, unknown> } | null)?.config;
  const map = config?.[`${project}:appSecrets`];
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    return [];
  }
  return Object.entries(map as Record<string, unknown>)
    .filter(([, v]) => v === null || typeof v !== "object" || !("secure" in v))
    .map(([k]) => k)
    .sort();
}
