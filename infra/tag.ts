/**
 * Image tags as the app repository's docker/metadata-action publishes them (the seed's rules):
 * `sha-<sha>` and `<branch>-<sha>` (type=sha), `vX.Y.Z` and `X.Y.Z` (type=semver {{version}}),
 * `X.Y` (type=semver {{major}}.{{minor}}), `pr-N` (type=ref,event=pr) and branch names
 * (type=ref,event=branch).
 */
import { ConfigValueError, showValue } from "./errors";

export type TagKind = "sha" | "version" | "minor" | "branch-sha" | "pr" | "branch";

export interface ImageTag {
  readonly tag: string;
  readonly kind: TagKind;
  /** False for tags that the app repo moves on every push (branches, X.Y, PRs). */
  readonly immutable: boolean;
  /** The commit sha for sha tags, the version for version tags. */
  readonly commit?: string;
  readonly version?: string;
}

const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/;
const MINOR = /^(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const SHA = /^sha-([0-9a-f]{7,40})$/;
const BRANCH_SHA = /^([a-z0-9][a-z0-9._-]*)-([0-9a-f]{7})$/;
const PR = /^pr-([1-9]\d{0,8})$/;
const BRANCH = /^[a-z0-9][a-z0-9._-]*$/;

export const TAG_RULES =
  "use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> or a branch name (a-z 0-9 . _ -), at most 128 characters";

/** A character as an error message names it: invisible ones by name, the others quoted. */
function characterName(c: string): string {
  const names: Record<string, string> = { " ": "a space", "\n": "a newline", "\r": "a carriage return", "\t": "a tab" };
  return names[c] ?? JSON.stringify(c);
}

/** The words "a", "b" or "c". */
function either(items: string[]): string {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/**
 * Why this value in particular is not a tag, said after the rules: the rules alone leave the user
 * to find which one the value breaks.
 */
export function tagHint(value: unknown): string {
  if (value === undefined || value === null || value === "") {
    return "set the release to deploy: pulumi config set imageTag v1.2.3";
  }
  if (typeof value !== "string") {
    return `a tag is a string, not a ${typeof value}: quote it`;
  }
  if (value === "latest") {
    return "'latest' is not a release, it moves with every build: name the release, e.g. sha-<commit> or vX.Y.Z";
  }
  if (value.length > 128) {
    return `this one has ${value.length} characters`;
  }
  const refused = [...new Set(value.match(/[^A-Za-z0-9_.-]/g) ?? [])];
  if (refused.length > 0) {
    return `a tag cannot contain ${either(refused.map(characterName))}`;
  }
  if (/^[.-]/.test(value)) {
    return "a tag starts with a letter or a digit";
  }
  if (/[A-Z]/.test(value)) {
    return "the app repository's tags are lowercase";
  }
  return value.startsWith("sha-") ? "sha- is followed by 7 to 40 hex digits of a commit" : "it has none of these forms";
}

/** Parses a tag or throws a ConfigValueError naming `key`. */
export function parseImageTag(key: string, value: unknown): ImageTag {
  const fail = (): never => {
    throw new ConfigValueError(key, showValue(value, false), `${TAG_RULES}; ${tagHint(value)}`);
  };
  if (typeof value !== "string" || !DOCKER_TAG.test(value) || value === "latest") {
    return fail();
  }
  let m: RegExpExecArray | null;
  if ((m = SHA.exec(value))) {
    return { tag: value, kind: "sha", immutable: true, commit: m[1] };
  }
  if (SEMVER.test(value)) {
    return { tag: value, kind: "version", immutable: true, version: value.replace(/^v/, "") };
  }
  if (MINOR.test(value)) {
    return { tag: value, kind: "minor", immutable: false, version: value };
  }
  if (PR.test(value)) {
    return { tag: value, kind: "pr", immutable: false };
  }
  if ((m = BRANCH_SHA.exec(value))) {
    return { tag: value, kind: "branch-sha", immutable: true, commit: m[2] };
  }
  if (BRANCH.test(value)) {
    return { tag: value, kind: "branch", immutable: false };
  }
  return fail();
}
