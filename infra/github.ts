import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";

/** The app repo's `.github/dependabot.yml`, as the seed lists it. */
export function renderDependabot(): string {
  const entry = (ecosystem: string, directory: string, labels: string[], limit?: number) =>
    [
      `  - package-ecosystem: "${ecosystem}"`,
      `    directory: "${directory}"`,
      "    schedule:",
      '      interval: "weekly"',
      ...(limit === undefined ? [] : [`    open-pull-requests-limit: ${limit}`]),
      "    labels:",
      ...labels.map((l) => `      - "${l}"`),
    ].join("\n");
  return [
    "# Managed by deep-calm-deploy (pulumi); edit it there.",
    "version: 2",
    "updates:",
    entry("pip", "/", ["dependencies", "python"], 5),
    entry("npm", "/app/ui", ["dependencies", "ui"], 5),
    entry("docker", "/", ["dependencies", "docker"]),
    entry("github-actions", "/", ["dependencies", "ci"]),
    "",
  ].join("\n");
}

/** The app repo's `.github/CODEOWNERS`: every path owned by `owners` (e.g. `@vasiliy-ivanov`). */
export function renderCodeowners(owners: string[]): string {
  return `# Managed by deep-calm-deploy (pulumi); edit it there.\n* ${owners.join(" ")}\n`;
}

export interface GithubEnvironmentArgs {
  /** Repository (in the provider's owner) that holds the environment: where the deploy workflows run. */
  repository: pulumi.Input<string>;
  /** Environment name: dev, test or prod. */
  environment: string;
  /** GitHub user ids whose approval a deployment needs; empty for none. */
  reviewerIds: number[];
  /** Whoever started a deployment cannot approve it (default true); only with reviewers. */
  preventSelfReview?: boolean;
  /** Branch and tag patterns allowed to deploy (prod); empty for any ref. */
  deployBranches?: string[];
  deployTags?: string[];
  /** Environment secrets (values are secret outputs). */
  secrets: Record<string, pulumi.Input<string>>;
  /** Environment variables (plain). */
  variables: Record<string, pulumi.Input<string>>;
}

/** A GitHub repository environment with its protection rules, secrets and variables. */
export class GithubEnvironment extends pulumi.ComponentResource {
  public readonly environment: github.RepositoryEnvironment;

  constructor(name: string, args: GithubEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:github:GithubEnvironment", name, {}, opts);
    const branches = args.deployBranches ?? [];
    const tags = args.deployTags ?? [];
    const restricted = branches.length + tags.length > 0;
    this.environment = new github.RepositoryEnvironment(
      `${name}-environment`,
      {
        repository: args.repository,
        environment: args.environment,
        preventSelfReview: args.reviewerIds.length > 0 && (args.preventSelfReview ?? true),
        canAdminsBypass: !restricted,
        reviewers: args.reviewerIds.length > 0 ? [{ users: args.reviewerIds }] : [],
        deploymentBranchPolicy: restricted ? { protectedBranches: false, customBranchPolicies: true } : undefined,
      },
      { parent: this },
    );
    const child = { parent: this, dependsOn: [this.environment] };
    const environment = this.environment.environment;
    branches.forEach((pattern, i) => {
      new github.RepositoryEnvironmentDeploymentPolicy(
        `${name}-branch-${i}`,
        { repository: args.repository, environment, branchPattern: pattern },
        child,
      );
    });
    tags.forEach((pattern, i) => {
      new github.RepositoryEnvironmentDeploymentPolicy(
        `${name}-tag-${i}`,
        { repository: args.repository, environment, tagPattern: pattern },
        child,
      );
    });
    for (const secretName of Object.keys(args.secrets).sort()) {
      new github.ActionsEnvironmentSecret(
        `${name}-secret-${secretName.toLowerCase()}`,
        { repository: args.repository, environment, secretName, plaintextValue: pulumi.secret(args.secrets[secretName] ?? "") },
        child,
      );
    }
    for (const variableName of Object.keys(args.variables).sort()) {
      new github.ActionsEnvironmentVariable(
        `${name}-variable-${variableName.toLowerCase()}`,
        { repository: args.repository, environment, variableName, value: args.variables[variableName] ?? "" },
        child,
      );
    }
    this.registerOutputs({});
  }
}

export interface AppRepoFilesArgs {
  /** The app repository (e.g. deep-calm). */
  repository: pulumi.Input<string>;
  /** Branch the files are committed to. Default main. */
  branch?: pulumi.Input<string>;
  /** CODEOWNERS owners, e.g. ["@vasiliy-ivanov"]. */
  owners: string[];
}

/** The seed's repository files that belong to the app repo: dependabot and CODEOWNERS. */
export class AppRepoFiles extends pulumi.ComponentResource {
  constructor(name: string, args: AppRepoFilesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:github:AppRepoFiles", name, {}, opts);
    const file = (role: string, path: string, content: string) =>
      new github.RepositoryFile(
        `${name}-${role}`,
        {
          repository: args.repository,
          branch: args.branch ?? "main",
          file: path,
          content,
          commitMessage: `chore: update ${path} (deep-calm-deploy)`,
          overwriteOnCreate: true,
        },
        { parent: this },
      );
    file("dependabot", ".github/dependabot.yml", renderDependabot());
    file("codeowners", ".github/CODEOWNERS", renderCodeowners(args.owners));
    this.registerOutputs({});
  }
}
