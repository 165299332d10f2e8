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
  "use sha-<7..40 hex>, vX.Y.Z, X.Y.Z, X.Y, pr-<n>, <branch>-<7 hex> or a branch name (a-z 0-9 . _ -), at most 128 characters; 'latest' is not a release";

/** Parses a tag or throws a ConfigValueError naming `key`. */
export function parseImageTag(key: string, value: unknown): ImageTag {
  const fail = (): never => {
    throw new ConfigValueError(key, showValue(value, false), TAG_RULES);
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
