import type { DigestSource } from "../infra/image-ref";

/** What an environment contains; the stack name picks one. */
export interface StackProfile {
  /** The env's name on the host and in logs; a review stack's is `pr-<n>`. */
  env: "dev" | "test" | "prod" | "local" | "local-k8s" | `pr-${number}`;
  /** Of a review stack (`review-<n>`): the app's pull request number. */
  pullRequest?: number;
  /** Declares the GitHub environment (protection, secrets, variables). */
  github: boolean;
  /** Also manages the app repo's dependabot.yml and CODEOWNERS (one stack owns them). */
  appRepoFiles: boolean;
  /** Deployments need a reviewer's approval. */
  requiresReviewers: boolean;
  /** Refs allowed to deploy (GitHub deployment policy); empty for any. */
  deployBranches: string[];
  deployTags: string[];
  /** nginx basic auth in front of the env, password generated. */
  basicAuth: boolean;
  /** Where the expected image digest comes from unless imageDigest is set. */
  digestSource: DigestSource;
}

/** This machine's stacks: no GitHub, no approval, the digest from the local registry's API. */
const MACHINE: StackProfile = {
  env: "local",
  github: false,
  appRepoFiles: false,
  requiresReviewers: false,
  deployBranches: [],
  deployTags: [],
  basicAuth: false,
  digestSource: "registry",
};

export const PROFILES: Record<"dev" | "test" | "prod" | "local" | "local-k8s", StackProfile> = {
  dev: {
    env: "dev",
    github: true,
    appRepoFiles: true,
    requiresReviewers: false,
    deployBranches: ["main"],
    deployTags: ["v*"],
    basicAuth: false,
    digestSource: "docker",
  },
  test: {
    env: "test",
    github: true,
    appRepoFiles: false,
    requiresReviewers: true,
    deployBranches: ["main"],
    deployTags: ["v*"],
    basicAuth: true,
    digestSource: "docker",
  },
  prod: {
    env: "prod",
    github: true,
    appRepoFiles: false,
    requiresReviewers: true,
    deployBranches: ["main"],
    deployTags: ["v*"],
    basicAuth: false,
    digestSource: "docker",
  },
  local: MACHINE,
  // The same app on this machine's two-node Kubernetes cluster (scripts/dev/local-cluster.sh up).
  "local-k8s": { ...MACHINE, env: "local-k8s" },
};

export const STACK_NAMES = Object.keys(PROFILES) as (keyof typeof PROFILES)[];

/** Stack names of review environments: `review-<n>` for pull request n of the app repo. */
export const REVIEW_STACK_RE = /^review-([1-9][0-9]{0,6})$/;

/**
 * A review environment (README: Review environments): runs on dev's host from dev's host settings
 * as env `pr-<n>`, with basic auth like test, no accessories and no GitHub environment of its own.
 */
export function reviewProfile(pullRequest: number): StackProfile {
  return {
    env: `pr-${pullRequest}`,
    pullRequest,
    github: false,
    appRepoFiles: false,
    requiresReviewers: false,
    deployBranches: [],
    deployTags: [],
    basicAuth: true,
    digestSource: "docker",
  };
}
