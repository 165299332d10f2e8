/**
 * `npm run doctor -- <stack>`: every missing or invalid setting before a stack's first deploy, at
 * once, each with how to fix it. Config is validated with the program's own loader
 * (stacks/config.ts), so doctor and `pulumi preview` agree; secrets are only ever shown as set or
 * unset. What only GitHub knows (its secrets, branch protection, environments) is listed as
 * "set in GitHub" or "not checked", with the `gh` command that checks it. Exit 1 when anything
 * doctor can check is missing or invalid.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigValueError } from "../../infra/errors";
import { FileReader, loadAdminKey, loadPrivateKey, loadStackConfig, profileFor, refusePlainSecrets } from "../../stacks/config";
import { StackProfile } from "../../stacks/profiles";
import { ConfigSchema, declaredValue, loadConfigSchema } from "../../stacks/schema";
import { PROJECT_DIR, pulumi, stackContext } from "../lib/pulumi";

const PROJECT = "deep-calm-deploy";

/** One config value as the stack holds it; `value` is absent for a secret that could not be read. */
export interface ConfigEntry {
  value?: unknown;
  secret: boolean;
}

export interface DoctorInput {
  stack: string;
  /** Full keys (`deep-calm-deploy:host`, `github:owner`). */
  config: Record<string, ConfigEntry>;
  /** backend: `pulumi config --json` (secrets readable); file: Pulumi.<stack>.yaml without a login. */
  source: "backend" | "file";
  schema: ConfigSchema;
  env: { githubToken: boolean; pulumiAccessToken: boolean; pulumiLoggedIn: boolean };
  /** Workflow file name → its text (.github/workflows/*.yml). */
  workflows: Record<string, string>;
  /** Whether Pulumi.<stack>.yaml has an encryptionsalt (the passphrase secrets provider). */
  passphraseProvider: boolean;
  readFile?: FileReader;
}

export interface DoctorReport {
  lines: string[];
  /** Missing or invalid settings doctor could check: non-zero exits 1. */
  problems: number;
  notChecked: number;
}

const TAG = { ok: "ok           ", missing: "MISSING      ", invalid: "INVALID      ", unchecked: "UNCHECKED    " };
const GITHUB_TAG = "SET IN GITHUB";
const NOT_CHECKED = "NOT CHECKED  ";

/** Valid values put in place of a rejected key so the loader goes on to the next one. */
const STAND_INS: Record<string, unknown> = {
  host: "doctor.invalid",
  sshHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRvY3Rvcg",
  githubReviewerIds: [1],
  imageTag: "v0.0.0",
  publicUrl: "https://doctor.invalid",
};

const WHAT: Record<string, string> = {
  host: "the server's DNS name or IP address",
  sshHostKey: "the server's host key that the connection pins",
  sshPrivateKey: "the deploy user's private key",
  githubReviewerIds: "the GitHub user ids who approve deployments (this environment requires approval)",
  "github:owner": "the GitHub user or organization that owns the repositories (the program's github provider)",
};

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

/** Reads project keys as the program does: Pulumi.yaml's type and default applied. */
function readerFor(input: DoctorInput, overrides: Record<string, unknown>): (key: string) => unknown {
  return (key) => (key in overrides ? overrides[key] : declaredValue(input.schema[key], input.config[`${PROJECT}:${key}`]?.value));
}

function fixFor(key: string, input: DoctorInput): string {
  const s = `-s ${input.stack}`;
  const read = readerFor(input, {});
  // Only values that would pass go into a command to copy; others become placeholders.
  const rawHost = read("host");
  const host = typeof rawHost === "string" && /^[A-Za-z0-9.:-]+$/.test(rawHost) ? rawHost : "<host>";
  const rawPort = read("sshPort");
  const port = typeof rawPort === "number" && Number.isInteger(rawPort) && rawPort > 0 && rawPort < 65536 ? rawPort : 22;
  switch (key) {
    case "host":
      return `pulumi config set host <server DNS name or IP> ${s}`;
    case "sshHostKey":
    case "sshKnownHostsFile":
      return `pulumi config set sshHostKey "$(ssh-keyscan -t ed25519${port === 22 ? "" : ` -p ${port}`} ${host} 2>/dev/null | cut -d' ' -f2-)" ${s}`;
    case "sshPrivateKey":
    case "sshPrivateKeyPath":
      return `pulumi config set --secret sshPrivateKey ${s} < ~/.ssh/deep-calm-deploy`;
    case "adminSshPrivateKey":
      return `pulumi config set --secret adminSshPrivateKey ${s} < ~/.ssh/admin_key`;
    case "githubReviewerIds":
      return `pulumi config set --path 'githubReviewerIds[0]' "$(gh api users/<login> --jq .id)" ${s}`;
    case "github:owner":
      return `pulumi config set github:owner <user or organization> ${s}`;
    case "deploymentLogDatabaseUrl":
    case "telegramBotToken":
      return `pulumi config set --secret ${key} ${s}`;
    default:
      return `pulumi config set ${key} <value> ${s}`;
  }
}

interface Finding {
  key: string;
  status: "missing" | "invalid";
  message: string;
}

/** Every key the program's loader refuses, one after another (a stand-in takes each one's place). */
function loaderFindings(input: DoctorInput): { findings: Finding[]; stoppedAt?: string } {
  const overrides: Record<string, unknown> = {};
  const findings: Finding[] = [];
  const read = readerFor(input, overrides);
  for (;;) {
    try {
      loadStackConfig(input.stack, read, input.readFile);
      return { findings };
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      const root = err.key.replace(/\[.*$/, "");
      findings.push({ key: err.key, status: isEmpty(read(root)) ? "missing" : "invalid", message: err.message });
      // A known-hosts file that does not pin the host is replaced by an explicit key.
      const target = root === "sshKnownHostsFile" ? "sshHostKey" : root;
      const standIn = STAND_INS[target] ?? input.schema[target]?.default;
      if (target in overrides || standIn === undefined) {
        return { findings, stoppedAt: err.key };
      }
      overrides[target] = standIn;
    }
  }
}

function configLines(input: DoctorInput, profile: StackProfile): { lines: string[]; problems: number; notChecked: number } {
  const lines: string[] = [];
  let problems = 0;
  let notChecked = 0;
  const read = readerFor(input, {});
  const problem = (f: Finding) => {
    problems++;
    const root = f.key.replace(/\[.*$/, "");
    const text = f.status === "missing" && WHAT[root] !== undefined ? `${f.key}: not set; ${WHAT[root]}` : f.message;
    lines.push(`  ${TAG[f.status]}${text}; fix: ${fixFor(root, input)}`);
  };
  const { findings, stoppedAt } = loaderFindings(input);
  const found = (key: string) => findings.filter((f) => f.key.replace(/\[.*$/, "") === key);

  // The settings a first deploy needs, each shown whether ok or not.
  if (found("host").length === 0) lines.push(`  ${TAG.ok}host: ${JSON.stringify(read("host"))}`);
  found("host").forEach(problem);

  const hostKeyFindings = [...found("sshHostKey"), ...found("sshKnownHostsFile")];
  if (hostKeyFindings.length === 0) {
    const file = read("sshKnownHostsFile");
    lines.push(
      isEmpty(read("sshHostKey")) && !isEmpty(file)
        ? `  ${TAG.ok}sshHostKey: pinned from sshKnownHostsFile ${String(file)}`
        : `  ${TAG.ok}sshHostKey: ${String(read("sshHostKey")).split(" ")[0] ?? ""} key pinned`,
    );
  }
  hostKeyFindings.forEach(problem);

  const key = input.config[`${PROJECT}:sshPrivateKey`];
  const admin = input.config[`${PROJECT}:adminSshPrivateKey`];
  if (read("bootstrap") === true) {
    // The program generates the deploy key; the bootstrap needs the admin's (README: Preparing a new server).
    if (input.source === "file" && admin?.secret === true) {
      notChecked++;
      lines.push(`  ${TAG.unchecked}adminSshPrivateKey: set (secret); its content could not be checked without \`pulumi login\``);
    } else {
      try {
        loadAdminKey(read, admin?.value as string | undefined, admin?.secret ?? false);
        lines.push(`  ${TAG.ok}adminSshPrivateKey: set (secret); the deploy key is generated (bootstrap)`);
      } catch (err) {
        if (!(err instanceof ConfigValueError)) throw err;
        const missing = isEmpty(admin?.value) && !(admin?.secret ?? false);
        problem({ key: err.key, status: missing ? "missing" : "invalid", message: err.message });
      }
    }
  } else if (input.source === "file" && key?.secret === true) {
    notChecked++;
    lines.push(`  ${TAG.unchecked}sshPrivateKey: set (secret); its content could not be checked without \`pulumi login\``);
  } else {
    try {
      loadPrivateKey(read, key?.value as string | undefined, key?.secret ?? false, input.readFile);
      lines.push(
        `  ${TAG.ok}sshPrivateKey: ${isEmpty(key?.value) ? `read from sshPrivateKeyPath ${String(read("sshPrivateKeyPath"))}` : "set (secret)"}`,
      );
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      const missing = isEmpty(key?.value) && isEmpty(read("sshPrivateKeyPath")) && !(key?.secret ?? false);
      problem({ key: "sshPrivateKey", status: missing ? "missing" : "invalid", message: err.message });
    }
  }

  if (profile.requiresReviewers) {
    if (found("githubReviewerIds").length === 0) {
      lines.push(`  ${TAG.ok}githubReviewerIds: ${JSON.stringify(read("githubReviewerIds"))}`);
    }
    found("githubReviewerIds").forEach(problem);
  }

  if (profile.github) {
    const owner = input.config["github:owner"]?.value;
    if (isEmpty(owner)) {
      problem({ key: "github:owner", status: "missing", message: "" });
    } else if (typeof owner !== "string" || !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(owner)) {
      problem({
        key: "github:owner",
        status: "invalid",
        message: `github:owner: ${JSON.stringify(owner)} is not allowed; use a GitHub login`,
      });
    } else {
      lines.push(`  ${TAG.ok}github:owner: ${JSON.stringify(owner)}`);
    }
  }

  // Any other key the loader refused.
  const shown = new Set(["host", "sshHostKey", "sshKnownHostsFile", "githubReviewerIds"]);
  findings.filter((f) => !shown.has(f.key.replace(/\[.*$/, ""))).forEach(problem);
  if (stoppedAt !== undefined) {
    lines.push(`  ${TAG.unchecked}keys after ${stoppedAt}: not validated until it is fixed`);
    notChecked++;
  }

  for (const secret of ["deploymentLogDatabaseUrl", "telegramBotToken"]) {
    const entry = input.config[`${PROJECT}:${secret}`];
    try {
      refusePlainSecrets(entry !== undefined && !entry.secret && !isEmpty(entry.value) ? [secret] : []);
    } catch (err) {
      problem({ key: secret, status: "invalid", message: (err as Error).message });
    }
  }
  return { lines, problems, notChecked };
}

interface WorkflowUse {
  files: Set<string>;
  environments: Set<string>;
}

/** Secrets and variables the workflows read, with the files and the environments of their jobs. */
export function workflowSettings(workflows: Record<string, string>): {
  secrets: Map<string, WorkflowUse>;
  variables: Map<string, WorkflowUse>;
} {
  const secrets = new Map<string, WorkflowUse>();
  const variables = new Map<string, WorkflowUse>();
  for (const file of Object.keys(workflows).sort()) {
    const doc = parse(workflows[file] ?? "") as { jobs?: Record<string, { environment?: string | { name?: string } }> } | null;
    for (const job of Object.values(doc?.jobs ?? {})) {
      const named = typeof job.environment === "string" ? job.environment : job.environment?.name;
      const environment = named === undefined ? "" : named.includes("${{") ? "the chosen environment" : named;
      const text = JSON.stringify(job);
      for (const [pattern, into] of [
        [/\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)/g, secrets],
        [/\bvars\.([A-Za-z_][A-Za-z0-9_]*)/g, variables],
      ] as const) {
        for (const match of text.matchAll(pattern)) {
          const name = match[1] as string;
          if (name === "GITHUB_TOKEN") continue;
          const use = into.get(name) ?? { files: new Set<string>(), environments: new Set<string>() };
          use.files.add(file);
          if (environment !== "") use.environments.add(environment);
          into.set(name, use);
        }
      }
    }
  }
  return { secrets, variables };
}

function githubLines(input: DoctorInput, profile: StackProfile, repo: string): string[] {
  const { secrets, variables } = workflowSettings(input.workflows);
  const upper = profile.env.toUpperCase();
  const purpose: Record<string, string> = {
    PULUMI_ACCESS_TOKEN: "the workflows' login to Pulumi Cloud",
    PULUMI_CONFIG_PASSPHRASE: input.passphraseProvider
      ? `the passphrase of Pulumi.${input.stack}.yaml's secrets (it has an encryptionsalt)`
      : `only for the passphrase secrets provider; Pulumi.${input.stack}.yaml has no encryptionsalt, so it may stay unset`,
    PULUMI_GITHUB_TOKEN:
      "becomes GITHUB_TOKEN of the program's github provider: a token that administers the repository (environments, secrets)",
    [`${upper}_BASIC_AUTH_PASS`]: `written into the ${profile.env} environment by \`pulumi up -s ${input.stack}\` itself`,
    DEPLOY_APP_PRIVATE_KEY: "private key of the GitHub App that commits desired tags to main",
    DEPLOY_APP_ID: "id of the GitHub App that commits desired tags to main",
    DEPLOY_DRIVER: "optional: pulumi-deployments hands dev's deploys to Pulumi Deployments",
    [`${upper}_BASIC_AUTH_USER`]: `optional (default ops): the basic auth user, basicAuthUser of the stack`,
  };
  const where = (use: WorkflowUse) =>
    `${[...use.files].join(", ")}${use.environments.size > 0 ? `; jobs in environment ${[...use.environments].join(", ")}` : ""}`;
  // Used only in one named environment: set it there; else in the repository, which every job sees.
  const scope = (use: WorkflowUse) => {
    const [only] = use.environments;
    return use.environments.size === 1 && only !== "the chosen environment" ? `--env ${only} --repo ${repo}` : `--repo ${repo}`;
  };
  const lines: string[] = [];
  for (const [kind, found] of [
    ["secret", secrets],
    ["variable", variables],
  ] as const) {
    for (const [name, use] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(
        `  ${GITHUB_TAG} ${kind} ${name} (${where(use)}): ${purpose[name] ?? "read by the workflows"};` +
          ` check: gh ${kind} list ${scope(use)}; fix: gh ${kind} set ${name} ${scope(use)}`,
      );
    }
  }
  return lines;
}

function repositoryLines(input: DoctorInput, profile: StackProfile, repo: string, environments: string[]): string[] {
  const api = `gh api repos/${repo}`;
  const lines = [
    `  ${NOT_CHECKED}branch protection on main: pull requests required, with the bot that commits desired tags (the GitHub App or` +
      ` github-actions[bot] of the promote/record jobs) allowed to bypass; check: ${api}/rules/branches/main and ${api}/rulesets/<id> --jq .bypass_actors`,
  ];
  if (profile.requiresReviewers) {
    lines.push(
      `  ${NOT_CHECKED}environment ${profile.env} requires approval by githubReviewerIds: \`pulumi up -s ${input.stack}\` creates it, so run` +
        ` that before the first workflow run (a job naming a missing environment creates it unprotected); check: ${api}/environments/${profile.env}` +
        ` --jq '.protection_rules[] | select(.type == "required_reviewers") | .reviewers[].reviewer.login'`,
    );
  }
  const others = environments.filter((e) => !["dev", "test", "prod", "the chosen environment"].includes(e));
  if (others.length > 0) {
    lines.push(
      `  ${NOT_CHECKED}environments ${others.join(", ")} (used by the workflows, not declared by this program) exist with their secrets;` +
        ` check: ${api}/environments --jq '.environments[].name'`,
    );
  }
  return lines;
}

/** The whole report: pure, from what doctor read. */
export function doctorReport(input: DoctorInput): DoctorReport {
  const profile = profileFor(input.stack);
  const header =
    input.source === "backend"
      ? `doctor: stack ${input.stack} (config from \`pulumi config --json\`; secrets checked, shown only as set or unset)`
      : `doctor: stack ${input.stack} (config read from Pulumi.${input.stack}.yaml, the backend did not answer: secrets could not be checked without \`pulumi login\`)`;
  const config = configLines(input, profile);
  const lines = [header, "config:", ...config.lines];
  let problems = config.problems;
  let notChecked = config.notChecked;

  if (!profile.github) {
    lines.push(`GitHub: the ${profile.env} stack has no GitHub environment and no workflow deploys it; nothing to set there`);
  } else {
    const owner = input.config["github:owner"]?.value;
    const repo = `${isEmpty(owner) ? "<owner>" : String(owner)}/${String(readerFor(input, {})("githubRepository"))}`;
    lines.push("tokens in this shell:");
    if (input.env.githubToken) {
      lines.push(`  ${TAG.ok}GITHUB_TOKEN: set`);
    } else {
      problems++;
      lines.push(
        `  ${TAG.missing}GITHUB_TOKEN: not set; the program's github provider needs it for \`pulumi preview/up -s ${input.stack}\`` +
          ` (environment, secrets, variables); fix: export GITHUB_TOKEN="$(gh auth token)" (a token that administers ${repo})`,
      );
    }
    if (input.env.pulumiAccessToken || input.env.pulumiLoggedIn) {
      lines.push(`  ${TAG.ok}PULUMI_ACCESS_TOKEN: ${input.env.pulumiLoggedIn ? "logged in to the Pulumi backend" : "set"}`);
      if (input.source === "file") {
        problems++;
        lines.push(`  ${TAG.missing}stack ${input.stack}: not found in the backend; fix: pulumi stack init ${input.stack}`);
      }
    } else {
      problems++;
      lines.push(
        `  ${TAG.missing}PULUMI_ACCESS_TOKEN: not set and no \`pulumi login\`; the stack's state and secrets live in Pulumi Cloud;` +
          ` fix: pulumi login (or export PULUMI_ACCESS_TOKEN=<a token from app.pulumi.com/account/tokens>), then pulumi stack select ${input.stack}` +
          ` (pulumi stack init ${input.stack} if it does not exist)`,
      );
    }
    const github = githubLines(input, profile, repo);
    lines.push(`set in GitHub (doctor cannot see GitHub's secrets from here):`, ...github);
    notChecked += github.length;
    const { secrets, variables } = workflowSettings(input.workflows);
    const environments = [...new Set([...secrets.values(), ...variables.values()].flatMap((u) => [...u.environments]))].sort();
    const repository = repositoryLines(input, profile, repo, environments);
    lines.push("repository settings (not checked: that needs a GitHub token and the network):", ...repository);
    notChecked += repository.length;
  }
  lines.push(
    problems === 0
      ? `nothing missing that doctor can check; ${notChecked} item(s) not checked from here (above)`
      : `${problems} missing or invalid; ${notChecked} item(s) not checked from here (above)`,
  );
  return { lines, problems, notChecked };
}

/** The stack's config: from the backend when it answers, else the stack file (secrets only set/unset). */
function readConfig(stack: string): { config: Record<string, ConfigEntry>; source: "backend" | "file" } {
  const run = pulumi(stack, ["config", "--json", "--show-secrets"], { config: true });
  if (run.status === 0) {
    const raw = JSON.parse(run.stdout) as Record<string, { value?: string; objectValue?: unknown; secret?: boolean }>;
    const config = Object.fromEntries(
      Object.entries(raw).map(([k, e]) => [k, { value: e.objectValue ?? e.value, secret: e.secret === true }]),
    );
    return { config, source: "backend" };
  }
  if (stack === "local") {
    throw new Error(`cannot read the local stack's config: ${run.stderr.trim()}`);
  }
  const file = join(PROJECT_DIR, `Pulumi.${stack}.yaml`);
  const doc = existsSync(file) ? ((parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null) ?? {}) : {};
  const config = Object.fromEntries(
    Object.entries(doc.config ?? {}).map(([k, v]) =>
      v !== null && typeof v === "object" && "secure" in v ? [k, { secret: true }] : [k, { value: v, secret: false }],
    ),
  );
  return { config, source: "file" };
}

/** Whether the CLI has a backend login for the stack (`pulumi whoami`). */
function loggedIn(stack: string): boolean {
  const run = spawnSync("pulumi", ["whoami"], { cwd: PROJECT_DIR, env: stackContext(stack).env, encoding: "utf8", timeout: 30_000 });
  return run.status === 0;
}

function main(argv: string[]): number {
  const [stack, ...rest] = argv;
  if (stack === undefined || rest.length > 0) {
    throw new Error("usage: npm run doctor -- <stack>");
  }
  profileFor(stack);
  const { config, source } = readConfig(stack);
  const dir = join(PROJECT_DIR, ".github", "workflows");
  const workflows = Object.fromEntries(
    readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
  );
  const stackFile = join(PROJECT_DIR, `Pulumi.${stack}.yaml`);
  const report = doctorReport({
    stack,
    config,
    source,
    schema: loadConfigSchema(),
    env: {
      githubToken: (process.env.GITHUB_TOKEN ?? "") !== "",
      pulumiAccessToken: (process.env.PULUMI_ACCESS_TOKEN ?? "") !== "",
      pulumiLoggedIn: stack !== "local" && loggedIn(stack),
    },
    workflows,
    passphraseProvider: existsSync(stackFile) && /^encryptionsalt:/m.test(readFileSync(stackFile, "utf8")),
  });
  console.log(report.lines.join("\n"));
  return report.problems === 0 ? 0 : 1;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  }
}
