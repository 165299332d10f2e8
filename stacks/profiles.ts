import { DigestSource } from "../infra/image";

/** What an environment contains; the stack name picks one. */
export interface StackProfile {
  env: "dev" | "test" | "prod" | "local";
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

export const PROFILES: Record<StackProfile["env"], StackProfile> = {
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
  local: {
    env: "local",
    github: false,
    appRepoFiles: false,
    requiresReviewers: false,
    deployBranches: [],
    deployTags: [],
    basicAuth: false,
    digestSource: "registry",
  },
};

export const STACK_NAMES = Object.keys(PROFILES) as StackProfile["env"][];
