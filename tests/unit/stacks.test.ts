import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ObservedHost, statusTarget } from "../../infra/observed-release";
import { sshArgv } from "../../infra/ssh";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";
import { DIGEST_V1, DIGEST_V2, HOST_KEY, isSecretValue, named, plainStrings, Run, runStack, SSH_KEY, valueOf, waitsFor } from "./harness";

// Two mocked stacks per test, on a machine that may be busy.
jest.setTimeout(30_000);

const list = (run: Run) => run.resources.map((r) => `${r.type} ${r.name}`).sort();
const byName = (run: Run) => new Map(run.resources.map((r) => [r.name, r]));
const hostCommands = (env: string) => [
  `command:remote:Command ${env}-host-ready`,
  `command:remote:Command ${env}-maintenance`,
  `command:remote:Command ${env}-project-dirs`,
  `command:remote:Command ${env}-project-env-file`,
  `command:remote:Command ${env}-project-nginx-reload`,
  `command:remote:Command ${env}-release-deploy`,
  `command:remote:CopyToRemote ${env}-project-nginx-site`,
  `command:remote:CopyToRemote ${env}-project-release-script`,
  `deepcalm:compose:ComposeProject ${env}-project`,
  `deepcalm:host:HostTarget ${env}-host`,
  `deepcalm:image:Image ${env}-image`,
  `deepcalm:release:Release ${env}-release`,
  `deepcalm:stack:Environment ${env}`,
  `pulumi-nodejs:dynamic/deepcalm:ObservedRelease ${env}-observed`,
];
const accessories = (env: string) => [
  `command:remote:Command ${env}-project-accessories`,
  `command:remote:CopyToRemote ${env}-project-compose-file`,
  `random:index/randomPassword:RandomPassword ${env}-postgres-password`,
];
const githubEnv = (env: string, secrets: string[], extra: string[] = []) => [
  `deepcalm:github:GithubEnvironment ${env}-github`,
  `github:index/repositoryEnvironment:RepositoryEnvironment ${env}-github-environment`,
  ...secrets.map((s) => `github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret ${env}-github-secret-${s}`),
  `github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable ${env}-github-variable-${env}_url`,
  ...extra,
];
const mainAndTags = (env: string) => [
  `github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy ${env}-github-branch-0`,
  `github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy ${env}-github-tag-0`,
];

describe("each stack declares exactly its resources", () => {
  test("dev: GitHub env, app repo files, accessories, no auth", async () => {
    const run = await runStack("dev");
    expect(list(run)).toEqual(
      [
        ...hostCommands("dev"),
        ...accessories("dev"),
        ...githubEnv("dev", ["dev_host", "dev_ssh_key", "dev_user", "telegram_chat_id"], mainAndTags("dev")),
        "deepcalm:github:AppRepoFiles dev-app-repo",
        "github:index/repositoryFile:RepositoryFile dev-app-repo-codeowners",
        "github:index/repositoryFile:RepositoryFile dev-app-repo-dependabot",
      ].sort(),
    );
    expect(run.calls).toEqual(["docker:index/getRegistryImage:getRegistryImage"]);
  });

  test("test: basic auth (generated password, htpasswd, smoke netrc), approval", async () => {
    const run = await runStack("test");
    expect(list(run)).toEqual(
      [
        ...hostCommands("test"),
        ...accessories("test"),
        "random:index/randomPassword:RandomPassword test-basic-auth-password",
        "command:remote:Command test-project-htpasswd",
        "command:remote:Command test-project-smoke-auth",
        ...githubEnv("test", ["test_basic_auth_pass", "test_host", "test_ssh_key", "test_user"], mainAndTags("test")),
      ].sort(),
    );
  });

  test("the release's --auth-file is the netrc the project uploads, and only where it uploads one", async () => {
    const run = await runStack("test");
    expect(named(run, "test-project-smoke-auth").inputs.create).toContain(" write-file /opt/deep-calm/test/smoke.netrc 0600");
    expect(named(run, "test-release-deploy").inputs.create).toContain(" --auth-file /opt/deep-calm/test/smoke.netrc");
    expect(named(await runStack("dev"), "dev-release-deploy").inputs.create).not.toMatch(/--auth-file \//);
  });

  test("prod: approval and a deployment policy for main and v* tags", async () => {
    const run = await runStack("prod");
    expect(list(run)).toEqual(
      [
        ...hostCommands("prod"),
        ...accessories("prod"),
        ...githubEnv(
          "prod",
          ["prod_host", "prod_ssh_key", "prod_user"],
          [
            "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy prod-github-branch-0",
            "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy prod-github-tag-0",
          ],
        ),
      ].sort(),
    );
  });

  test("local: only the host, no GitHub, no random, no docker provider", async () => {
    const run = await runStack("local");
    expect(list(run)).toEqual(hostCommands("local").sort());
    expect(run.calls).toEqual([]);
  });
});

describe("protection rules", () => {
  const environment = (run: Run, env: string) => named(run, `${env}-github-environment`).inputs;

  test("dev deploys without approval, only from main or v* tags", async () => {
    const run = await runStack("dev");
    const env = environment(run, "dev");
    expect(env.reviewers).toEqual([]);
    expect(env.deploymentBranchPolicy).toEqual({ protectedBranches: false, customBranchPolicies: true });
    expect(named(run, "dev-github-branch-0").inputs).toMatchObject({ branchPattern: "main", environment: "dev" });
    expect(named(run, "dev-github-tag-0").inputs).toMatchObject({ tagPattern: "v*", environment: "dev" });
  });

  test("test requires its reviewers, who cannot approve themselves", async () => {
    const env = environment(await runStack("test"), "test");
    expect(env).toMatchObject({ environment: "test", reviewers: [{ users: [101] }], preventSelfReview: true });
  });

  test("githubPreventSelfReview false lets a single reviewer approve the deploys they started", async () => {
    const env = environment(await runStack("test", { config: { githubPreventSelfReview: false } }), "test");
    expect(env).toMatchObject({ reviewers: [{ users: [101] }], preventSelfReview: false });
  });

  test("test deploys only from main or v* tags", async () => {
    const run = await runStack("test");
    expect(environment(run, "test").deploymentBranchPolicy).toEqual({ protectedBranches: false, customBranchPolicies: true });
    expect(named(run, "test-github-branch-0").inputs).toMatchObject({ branchPattern: "main", environment: "test" });
    expect(named(run, "test-github-tag-0").inputs).toMatchObject({ tagPattern: "v*", environment: "test" });
  });

  test("prod requires reviewers and only main or v* tags may deploy; admins cannot bypass", async () => {
    const run = await runStack("prod");
    expect(environment(run, "prod")).toMatchObject({
      reviewers: [{ users: [101, 102] }],
      deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      canAdminsBypass: false,
    });
    expect(named(run, "prod-github-branch-0").inputs).toMatchObject({ branchPattern: "main", environment: "prod" });
    expect(named(run, "prod-github-tag-0").inputs).toMatchObject({ tagPattern: "v*", environment: "prod" });
  });
});

describe("secrets", () => {
  const secretValues = (run: Run) => [
    SSH_KEY.trim(),
    ...run.resources.filter((r) => r.type.startsWith("random:")).map((r) => `generated-${r.name}-Zq9`),
  ];

  test.each(["dev", "test", "prod", "local"])("%s: no secret in any plain input (commands, files, triggers)", async (stack) => {
    const run = await runStack(stack);
    const plain = run.resources.flatMap((r) => plainStrings(r.inputs));
    for (const secret of secretValues(run)) {
      expect(plain.filter((s) => s.includes(secret))).toEqual([]);
    }
    const commands = run.resources.filter((r) => r.type === "command:remote:Command");
    for (const c of commands) {
      for (const field of ["create", "update", "delete"]) {
        const text = c.inputs[field];
        if (text !== undefined) {
          expect(typeof text).toBe("string");
          expect(text as string).not.toMatch(/BEGIN OPENSSH|generated-/);
        }
      }
    }
  });

  test("the SSH connection (with its key) is secret everywhere", async () => {
    const run = await runStack("test");
    for (const r of run.resources.filter((x) => x.type.startsWith("command:remote:"))) {
      expect([r.name, isSecretValue(r.inputs.connection)]).toEqual([r.name, true]);
    }
  });

  test("secret files go over stdin as secrets, 0600", async () => {
    const run = await runStack("test");
    for (const name of ["test-project-env-file", "test-project-smoke-auth"]) {
      const r = named(run, name);
      expect(isSecretValue(r.inputs.stdin)).toBe(true);
      expect(r.inputs.create).toContain(" 0600");
      expect(r.inputs.logging).toBe("none");
    }
    const env = (named(run, "test-project-env-file").inputs.stdin as { value: string }).value;
    expect(env).toContain("DATABASE_URL=postgresql://deepcalm:generated-test-postgres-password-Zq9@127.0.0.1:5433/deepcalm\n");
    expect(env).toContain("DEPLOY_ENV=test\n");
    expect((named(run, "test-project-smoke-auth").inputs.stdin as { value: string }).value).toBe(
      "machine 127.0.0.1 login ops password generated-test-basic-auth-password-Zq9\n",
    );
  });

  test("GitHub environment secrets are secret, the URL variable is plain", async () => {
    const run = await runStack("test");
    const secrets = run.resources.filter((r) => r.type.includes("actionsEnvironmentSecret"));
    expect(secrets.length).toBe(4);
    for (const s of secrets) {
      expect(isSecretValue(s.inputs.plaintextValue)).toBe(true);
    }
    expect(named(run, "test-github-secret-test_basic_auth_pass").inputs.plaintextValue).toEqual(
      expect.objectContaining({ value: "generated-test-basic-auth-password-Zq9" }),
    );
    expect(named(run, "test-github-variable-test_url").inputs).toMatchObject({
      variableName: "TEST_URL",
      value: "https://test.dc.example.com",
    });
  });

  test("release stderr is a secret output; stdout, which carries the result, is not", async () => {
    const run = await runStack("local");
    const secretOutputs = run.registrations.get("local-release-deploy")?.additionalSecretOutputs;
    expect(secretOutputs).toContain("stderr");
    expect(secretOutputs).not.toContain("stdout");
  });
});

/**
 * What `pulumi up` does to each host resource when the config changes, under the real command
 * provider 1.2.1. pulumi-go-provider's default diff names every changed path of the inputs
 * (`triggers[0]`, `create`; `connection` whole, as the SDK sends it secret); the engine drops the
 * paths in `ignoreChanges` and replaces when a path matches `replaceOnChanges` (the SDK adds
 * `triggers[*]` to every command resource), and the provider itself replaces when `triggers` is
 * added or removed as a whole. Any other change is an update: it runs `update`, else `create`.
 * A replace runs the old resource's `delete`, first when `deleteBeforeReplace` is set.
 */
const COMMAND_TYPES = ["command:remote:Command", "command:remote:CopyToRemote"];
/** Inputs as the provider compares them: an asset by its content. */
const comparable = async (value: unknown): Promise<unknown> => {
  if (Array.isArray(value)) {
    return Promise.all(value.map(comparable));
  }
  if (typeof value === "object" && value !== null) {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await comparable(await v)] as const));
    return Object.fromEntries(entries);
  }
  return value;
};
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !isSecretValue(x);
/** The changed paths between two input values, as the detailed diff names them. */
const changedPaths = (a: unknown, b: unknown, path: string, out: string[] = []): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b)) {
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) changedPaths(a[i], b[i], `${path}[${i}]`, out);
  } else if (isObject(a) && isObject(b) && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) changedPaths(a[k], b[k], path === "" ? k : `${path}.${k}`, out);
  } else {
    out.push(path);
  }
  return out;
};
/** `triggers[*]` matches `triggers[0]`; a path also matches what lies under it. */
const matches = (pattern: string, path: string): boolean => {
  const re = new RegExp(
    `^${pattern
      .replace(/[.]/g, "\\.")
      .replace(/\[\*\]/g, "\\[\\d+\\]")
      .replace(/\[(\d+)\]/g, "\\[$1\\]")}(?=$|[.[])`,
  );
  return re.test(path);
};
const plan = async (a: Run, b: Run): Promise<string[]> => {
  const before = byName(a);
  const out: string[] = [];
  for (const r of b.resources.filter((x) => COMMAND_TYPES.includes(x.type))) {
    const old = before.get(r.name);
    if (old === undefined) {
      out.push(`create ${r.name}`);
      continue;
    }
    const { replaceOnChanges, ignoreChanges, deleteBeforeReplace } = r.options;
    const paths = changedPaths(await comparable(old.inputs), await comparable(r.inputs), "").filter(
      (p) => !ignoreChanges.some((i) => matches(i, p)),
    );
    if (paths.length === 0) {
      continue;
    }
    const replaced = paths.some((p) => p === "triggers" || replaceOnChanges.some((pattern) => matches(pattern, p)));
    out.push(replaced ? `replace${deleteBeforeReplace ? " (delete first)" : ""} ${r.name}` : `update ${r.name}`);
  }
  return out.sort();
};

describe("plans under the real command provider: updates in place, replaces only when the env moves", () => {
  test.each(["remote/command.js", "remote/copyToRemote.js"])("the SDK's %s still replaces on any change of triggers[*]", (file) => {
    const sdk = readFileSync(join(__dirname, "../../node_modules/@pulumi/command", file), "utf8");
    expect(sdk).toContain('replaceOnChanges: ["triggers[*]"]');
  });

  test("the same config twice changes nothing", async () => {
    expect(await plan(await runStack("local"), await runStack("local"))).toEqual([]);
  });

  test("another tag and digest update the release in place", async () => {
    const a = await runStack("local");
    const b = await runStack("local", { config: { imageTag: "v2", imageDigest: DIGEST_V2 } });
    expect(await plan(a, b)).toEqual(["update local-release-deploy"]);
    expect(named(b, "local-release-deploy").inputs.update).toContain(`--digest ${DIGEST_V2}`);
  });

  test("a moved digest under the same tag updates the release", async () => {
    const a = await runStack("dev");
    const b = await runStack("dev", { registryDigest: DIGEST_V2 });
    expect(await plan(a, b)).toEqual(["update dev-release-deploy"]);
  });

  test("a new release procedure re-uploads it and updates the release, which checks the upload's digest", async () => {
    const script = "#!/usr/bin/env bash\necho changed\n";
    const a = await runStack("local");
    const b = await runStack("local", { releaseScript: script });
    expect(await plan(a, b)).toEqual(["update local-project-release-script", "update local-release-deploy"]);
    expect(named(b, "local-release-deploy").inputs.update).toContain(createHash("sha256").update(script).digest("hex"));
  });

  test("a new nginx site re-uploads it and reloads nginx (a replace without a delete); the release updates", async () => {
    const a = await runStack("local");
    const b = await runStack("local", { config: { nginxListen: "127.0.0.1:8081" } });
    expect(await plan(a, b)).toEqual([
      "replace local-project-nginx-reload",
      "update local-project-nginx-site",
      "update local-release-deploy",
    ]);
    expect(named(b, "local-project-nginx-reload").inputs.delete).toBeUndefined();
  });

  test("the app environment changes only the .env file", async () => {
    const a = await runStack("local");
    const b = await runStack("local", { config: { appEnvironment: ["FEATURE_X=1"] } });
    expect(await plan(a, b)).toEqual(["update local-project-env-file"]);
  });

  test("a new compose file updates the accessories in place (up -d), never down", async () => {
    const a = await runStack("dev");
    const b = await runStack("dev", { config: { redisPort: 6390 } });
    expect(await plan(a, b)).toEqual(["update dev-project-accessories", "update dev-project-compose-file", "update dev-project-env-file"]);
    expect(named(b, "dev-project-accessories").inputs.update).toMatch(/ up -d --remove-orphans$/);
  });

  test.each([
    ["healthRetries", 7],
    ["warmSeconds", 90],
    ["migrateCommand", "/bin/other-migrate"],
    ["smokePaths", ["/healthz", "/ready"]],
    ["lockTimeout", 30],
    ["appPorts", [8111, 8112]],
  ])("a new %s updates the release in place", async (key, value) => {
    const a = await runStack("local");
    const b = await runStack("local", { config: { [key]: value } });
    const planned = await plan(a, b);
    expect(planned).toContain("update local-release-deploy");
    expect(planned.filter((p) => p.startsWith("replace") && !p.endsWith("-nginx-reload"))).toEqual([]);
  });

  test.each([
    ["sshDialTimeout", 20],
    ["sshPort", 2200],
  ])("a new connection setting (%s) updates every host command, replaces none", async (key, value) => {
    const a = await runStack("dev");
    const b = await runStack("dev", { config: { [key]: value } });
    const planned = await plan(a, b);
    expect(planned).toContain("update dev-release-deploy");
    expect(planned).toContain("update dev-project-accessories");
    expect(planned.filter((p) => p.startsWith("replace"))).toEqual([]);
  });

  test("moving the env (hostRoot) replaces what lives in its directory: the release and accessories are removed first", async () => {
    const a = await runStack("dev");
    const b = await runStack("dev", { config: { hostRoot: "/srv/deep-calm" } });
    const planned = await plan(a, b);
    expect(planned).toContain("replace (delete first) dev-release-deploy");
    expect(planned).toContain("replace (delete first) dev-project-accessories");
    expect(planned).toContain("replace dev-project-dirs");
  });

  test("a stack deployed by an earlier version (triggers in its state) updates in place on its next tag change", async () => {
    const legacy = await runStack("dev");
    // What carried triggers before: the release, the accessories, the uploads and the readiness check.
    const hadTriggers = /-(release-deploy|project-accessories|project-release-script|project-nginx-site|project-compose-file|host-ready)$/;
    for (const r of legacy.resources.filter((x) => hadTriggers.test(x.name))) {
      r.inputs = { ...r.inputs, triggers: [DIGEST_V1, "procedure-sha", "settings-sha"] };
    }
    const b = await runStack("dev", { config: { imageTag: "sha-0456def" }, registryDigest: DIGEST_V2 });
    expect(await plan(legacy, b)).toEqual(["update dev-release-deploy"]);
  });
});

describe("outputs", () => {
  test("the release result is parsed from dc-release's final JSON line, and checked", async () => {
    const line = resultWith(DEPLOY_FIRST, { env: "local" });
    const run = await runStack("local", { releaseStdout: `pulling\n${line}\n` });
    expect(await valueOf(run.environment.release)).toEqual(JSON.parse(line));
    expect(await valueOf(run.environment.imageRef)).toBe("127.0.0.1:5000/deep-calm:v1");
    expect(await valueOf(run.environment.digest)).toBe(DIGEST_V1);
    expect(run.environment.url).toBe("http://127.0.0.1:8080");
  });

  test("dev resolves the digest through @pulumi/docker", async () => {
    const run = await runStack("dev", { registryDigest: DIGEST_V2 });
    expect(await valueOf(run.environment.digest)).toBe(DIGEST_V2);
    expect(named(run, "dev-release-deploy").inputs.create).toContain(
      `--image ghcr.io/vasiliy-ivanov/deep-calm:sha-0123abc --digest ${DIGEST_V2}`,
    );
  });
});

describe("Pulumi Deployments push-to-deploy", () => {
  test("dev deploys on push to main and previews PRs, declared in the stack itself", async () => {
    const run = await runStack("dev", {
      config: { pushToDeploy: true, pushToDeployOrganization: "deep-calm", pushToDeployRepository: "vasiliy-ivanov/deep-calm-deploy" },
    });
    expect(list(run)).toContain("pulumiservice:index:DeploymentSettings dev-push-to-deploy-settings");
    expect(named(run, "dev-push-to-deploy-settings").inputs).toMatchObject({
      organization: "deep-calm",
      project: "deep-calm-deploy",
      stack: "dev",
      sourceContext: { git: { branch: "refs/heads/main" } },
      vcs: { provider: "github", repository: "vasiliy-ivanov/deep-calm-deploy", deployCommits: true, previewPullRequests: true },
    });
  });

  test("off by default", async () => {
    expect(list(await runStack("dev")).filter((r) => r.includes("push-to-deploy"))).toEqual([]);
  });
});

describe("the observed release", () => {
  test("asks the host with the pinned key, kept secret, and a quoted status command", async () => {
    const run = await runStack("test");
    const observed = named(run, "test-observed").inputs;
    expect(isSecretValue(observed.host)).toBe(true);
    expect(observed.statusCommand).toBe("bash /opt/deep-calm/test/dc-release status --env test --root /opt/deep-calm");
    expect(observed.expectedDigest).toBe(DIGEST_V1);
  });

  test("its ssh dials with the stack's sshDialTimeout and sshDialAttempts, as the command provider does", async () => {
    const run = await runStack("dev", { config: { sshDialTimeout: 7, sshDialAttempts: 3 } });
    const observed = named(run, "dev-observed").inputs;
    const host = (observed.host as { value: ObservedHost }).value;
    expect(host).toMatchObject({
      host: "dev.dc.example.com",
      port: 22,
      user: "dc",
      hostKey: HOST_KEY,
      dialTimeoutSeconds: 7,
      dialAttempts: 3,
    });
    const argv = sshArgv(statusTarget(host, "/tmp/observe"), String(observed.statusCommand));
    expect(argv).toEqual(expect.arrayContaining(["ConnectTimeout=7", "ConnectionAttempts=3", "StrictHostKeyChecking=yes"]));
    expect(argv.slice(-2)).toEqual(["dc@dev.dc.example.com", "bash /opt/deep-calm/dev/dc-release status --env dev --root /opt/deep-calm"]);
  });
});

describe("the host target", () => {
  test("dials with the pinned host key and bounded timeouts, and proves docker answers first", async () => {
    const run = await runStack("dev", { config: { sshDialTimeout: 7, sshDialAttempts: 3 } });
    const ready = named(run, "dev-host-ready").inputs;
    expect(ready.create).toBe("docker version --format '{{.Server.Version}}'");
    expect((ready.connection as { value: unknown }).value).toMatchObject({
      host: "dev.dc.example.com",
      port: 22,
      user: "dc",
      hostKey: HOST_KEY,
      perDialTimeout: 7,
      dialErrorLimit: 3,
    });
  });

  test("everything on the host waits for the readiness step", async () => {
    const run = await runStack("test");
    const onHost = run.resources
      .filter((r) => r.type.startsWith("command:remote:") || r.type.endsWith(":ObservedRelease"))
      .map((r) => r.name)
      .filter((name) => name !== "test-host-ready");
    expect(onHost).toHaveLength(12);
    expect(onHost.filter((name) => !waitsFor(run, name).includes("test-host-ready"))).toEqual([]);
  });

  test("the release waits for every upload of its project, the observed release for the release", async () => {
    const run = await runStack("test");
    expect(waitsFor(run, "test-release-deploy")).toEqual(
      expect.arrayContaining([
        "test-project-release-script",
        "test-project-nginx-site",
        "test-project-env-file",
        "test-project-htpasswd",
        "test-project-smoke-auth",
        "test-project-compose-file",
        "test-project-accessories",
        "test-project-nginx-reload",
      ]),
    );
    expect(waitsFor(run, "test-observed")).toContain("test-release-deploy");
  });
});
