/**
 * Pulumi Deployments push-to-deploy for one stack, declared in code: Pulumi Cloud runs
 * `pulumi up` on pushes to the branch (dev) and `pulumi preview` on pull requests, with no
 * workflow of ours around it. That is why the program itself must do everything on `up`.
 *
 * Tags: the Pulumi Cloud API knows `deployTags`/`tagFilters`, but @pulumi/pulumiservice 1.3.0
 * does not expose them, so a tag cannot trigger a deployment from here. Tags reach `test` through
 * .github/workflows/deploy.yml (environment `test`, with its approval) instead.
 */
import * as pulumi from "@pulumi/pulumi";
import * as pulumiservice from "@pulumi/pulumiservice";
import { ConfigValueError, showValue } from "./errors";
import { validateFor } from "./validate-for";

const REPOSITORY = /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/;
const BRANCH = /^(?!refs\/)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}(?<![./])$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** `owner/repo` as GitHub spells it. */
export function githubRepository(key: string, value: unknown): string {
  if (typeof value !== "string" || !REPOSITORY.test(value) || value.endsWith(".git")) {
    throw new ConfigValueError(
      key,
      showValue(value, false),
      "use the GitHub repository as owner/repo, e.g. vasiliy-ivanov/deep-calm-deploy",
    );
  }
  return value;
}

/** The git ref Pulumi Deployments checks out for a branch name: `main` → `refs/heads/main`. */
export function branchRef(key: string, value: unknown): string {
  if (typeof value !== "string" || !BRANCH.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a branch name such as main (without refs/heads/)");
  }
  return `refs/heads/${value}`;
}

/** An organization, project or stack name. */
export function cloudName(key: string, value: unknown): string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a Pulumi Cloud name (letters, digits, '.', '_', '-')");
  }
  return value;
}

/** What a stack's deployment settings trigger; pure, so the rules are tested without mocks. */
export interface PushToDeployTriggers {
  /** `pulumi up` on every push to the branch. */
  deployCommits: boolean;
  /** `pulumi preview` on every pull request against the branch, posted to the PR. */
  previewPullRequests: boolean;
  /** This stack is never a template for per-PR review stacks. */
  pullRequestTemplate: false;
}

/** dev deploys on push; every other stack only previews (test takes tags through deploy.yml). */
export function triggersFor(
  stack: string,
  overrides: { deployCommits?: boolean; previewPullRequests?: boolean } = {},
): PushToDeployTriggers {
  return {
    deployCommits: overrides.deployCommits ?? stack === "dev",
    previewPullRequests: overrides.previewPullRequests ?? true,
    pullRequestTemplate: false,
  };
}

export interface PushToDeployArgs {
  /** Pulumi Cloud organization that owns the stack. */
  organization: pulumi.Input<string>;
  /** Pulumi project name. Default: this program's project. */
  project?: pulumi.Input<string>;
  /** The stack Pulumi Deployments updates (dev, test, ...). */
  stack: pulumi.Input<string>;
  /** This repository as owner/repo (the Pulumi GitHub app must be installed on it). */
  repository: pulumi.Input<string>;
  /** Branch whose pushes deploy and whose pull requests are previewed. Default `main`. */
  branch?: pulumi.Input<string>;
  /** Run `pulumi up` on every push to the branch. Default: true for dev, false otherwise. */
  deployCommits?: pulumi.Input<boolean>;
  /** Run `pulumi preview` on pull requests and comment on them. Default true. */
  previewPullRequests?: pulumi.Input<boolean>;
  /** Only pushes touching these paths deploy (glob). Default: every path. */
  paths?: pulumi.Input<pulumi.Input<string>[]>;
  /** Directory of Pulumi.yaml inside the repository. Default: the repository root. */
  repoDir?: pulumi.Input<string>;
}

/**
 * Push-to-deploy of one stack by Pulumi Deployments: GitHub pushes to the branch run `pulumi up`
 * (when `deployCommits`), pull requests run `pulumi preview`, never as a review-stack template.
 * Dependencies are cached and intermediate deployments of a burst of pushes are skipped.
 */
export class PushToDeploy extends pulumi.ComponentResource {
  public readonly settings: pulumiservice.DeploymentSettings;
  /** `organization/project/stack` of the configured stack. */
  public readonly stackRef: pulumi.Output<string>;

  constructor(name: string, args: PushToDeployArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:deployments:PushToDeploy", name, {}, opts);
    const checked = <T>(input: pulumi.Input<T>, check: (v: T) => string): pulumi.Output<string> =>
      pulumi.Output.isInstance(input) || input instanceof Promise
        ? pulumi.output(input).apply((v) => validateFor(this, () => check(v as T)))
        : // A plain value fails here, at construction, instead of inside an output.
          pulumi.output(validateFor(this, () => check(input as T)));
    const organization = checked(args.organization, (v) => cloudName("pushToDeployOrganization", v));
    const project = checked(args.project ?? pulumi.getProject(), (v) => cloudName("project", v));
    const stack = checked(args.stack, (v) => cloudName("stack", v));
    const repository = checked(args.repository, (v) => githubRepository("pushToDeployRepository", v));
    const branch = checked(args.branch ?? "main", (v) => branchRef("pushToDeployBranch", v));
    const triggers = pulumi
      .all([stack, args.deployCommits, args.previewPullRequests])
      .apply(([s, deployCommits, previewPullRequests]) => triggersFor(s, { deployCommits, previewPullRequests }));

    this.settings = new pulumiservice.DeploymentSettings(
      `${name}-settings`,
      {
        organization,
        project,
        stack,
        sourceContext: { git: { branch, ...(args.repoDir === undefined ? {} : { repoDir: args.repoDir }) } },
        vcs: {
          provider: "github",
          repository,
          deployCommits: triggers.deployCommits,
          previewPullRequests: triggers.previewPullRequests,
          pullRequestTemplate: triggers.pullRequestTemplate,
          ...(args.paths === undefined ? {} : { paths: args.paths }),
        },
        cacheOptions: { enable: true },
        operationContext: { options: { skipIntermediateDeployments: true } },
      },
      { parent: this },
    );
    this.stackRef = pulumi.interpolate`${organization}/${project}/${stack}`;
    this.registerOutputs({ stackRef: this.stackRef });
  }
}
