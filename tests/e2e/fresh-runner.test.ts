/**
 * The workflows' steps as a fresh GitHub runner runs them, against the local stack: an empty
 * PULUMI_HOME (no plugins, no workspace), the job's `env` and `run:` scripts as rollback.yml and
 * deploy.yml hold them now, under bash -eo pipefail like `shell: bash`.
 * `pulumi/actions` installs only the CLI, so a runner's first `pulumi up` downloads the provider
 * plugins. This machine cannot download, and the local stack runs with acquisition off; so the
 * runner's download is played by `pulumi plugin install resource command 1.2.1 --file <binary>`
 * into the fresh home (the binary install-engine.sh put in the usual plugin cache).
 * Needs the local target (scripts/dev/local-target.sh up, scripts/dev/demo-images.sh) and the engine
 * (scripts/dev/install-engine.sh). Independent of the other e2e files: beforeAll deploys v1 then v2,
 * afterAll puts back the release it found (or destroys the stack when it found none).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { statusAndBody } from "../../scripts/lib/load";
import { LOCAL_STACK, PROJECT_DIR, projectPath, pulumi } from "../../scripts/lib/pulumi";

jest.setTimeout(300_000);

const FRONT = "http://127.0.0.1:8080";
const COMMAND_PLUGIN = "resource-command-v1.2.1/pulumi-resource-command";

interface Step {
  id?: string;
  name?: string;
  env?: Record<string, string>;
  run?: string;
}

/** A job's steps as the workflow file holds them now. */
function jobSteps(file: string, job: string): Step[] {
  const workflow = parse(readFileSync(join(PROJECT_DIR, ".github", "workflows", file), "utf8")) as {
    jobs: Record<string, { steps: Step[] }>;
  };
  return workflow.jobs[job]?.steps ?? [];
}

const rollbackSteps = (): Step[] => jobSteps("rollback.yml", "rollback");

/**
 * A step's `env`, with its expressions as a workflow_dispatch of the local stack gives them.
 * Secrets are empty except the passphrase (the local stack's secrets provider); `a || 'b'` falls back.
 */
function stepEnv(step: Step, outputs: Record<string, string>): Record<string, string> {
  const known: Record<string, string> = {
    "inputs.environment": "local",
    "inputs.tag": "",
    "secrets.PULUMI_CONFIG_PASSPHRASE": LOCAL_STACK.passphrase,
  };
  const value = (expr: string): string => {
    const output = /^steps\.[\w-]+\.outputs\.(\w+)$/.exec(expr);
    if (output) return outputs[output[1] as string] ?? "";
    const literal = /^'(.*)'$/.exec(expr);
    return literal ? (literal[1] as string) : (known[expr] ?? "");
  };
  const env: Record<string, string> = {};
  for (const [name, raw] of Object.entries(step.env ?? {})) {
    env[name] = String(raw).replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_m, body: string) =>
      body
        .split("||")
        .map((part) => value(part.trim()))
        .reduce((acc, next) => (acc !== "" ? acc : next), ""),
    );
  }
  return env;
}

let home: string;
let outputFile: string;
/** What the local stack served and its config said before this file ran. */
let found: { served?: string; configured: string };

/** A runner's environment: only what the runner, setup-node, pulumi/actions and the job give. */
function runnerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    // .engine/bin stands in for the CLI pulumi/actions installs, .node/bin for setup-node.
    PATH: projectPath(process.env.PATH ?? ""),
    HOME: process.env.HOME ?? homedir(),
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_OUTPUT: outputFile,
    PULUMI_HOME: home,
    // The runner logs in to Pulumi Cloud with PULUMI_ACCESS_TOKEN; the local stack's backend is a directory.
    PULUMI_BACKEND_URL: LOCAL_STACK.backendUrl,
    // No update check: this machine cannot reach the Pulumi service (a runner could).
    PULUMI_SKIP_UPDATE_CHECK: "true",
    ...extra,
  };
}

/** Runs a step's `run:` script as `shell: bash` does; its output goes to GITHUB_OUTPUT. */
function runStep(step: Step, outputs: Record<string, string> = {}): { status: number; out: string } {
  const script = join(home, `step-${step.id ?? "anon"}.sh`);
  writeFileSync(script, step.run ?? "");
  const run = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
    cwd: PROJECT_DIR,
    env: runnerEnv(stepEnv(step, outputs)),
    encoding: "utf8",
    timeout: 240_000,
  });
  return { status: run.status ?? 1, out: `${run.stdout}${run.stderr}` };
}

function stepOutputs(): Record<string, string> {
  const lines = existsSync(outputFile) ? readFileSync(outputFile, "utf8").split("\n") : [];
  return Object.fromEntries(lines.filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

/** What nginx serves now, on a fresh connection. */
const serving = (): Promise<string> => statusAndBody(`${FRONT}/version`);

function deploy(tag: string): void {
  expect(pulumi("local", ["config", "set", "imageTag", tag], { config: true }).status).toBe(0);
  const up = pulumi("local", ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });
  expect(up.status === 0 ? "" : up.stdout + up.stderr).toBe("");
}

/** The runner's download of the command plugin, played by an install from this machine's cache. */
function installCommandPlugin(): void {
  const cached = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "plugins", COMMAND_PLUGIN);
  const binary = existsSync(cached) ? cached : join(PROJECT_DIR, ".engine", "plugins", "pulumi-resource-command");
  const install = spawnSync("pulumi", ["plugin", "install", "resource", "command", "1.2.1", "--file", binary], {
    env: runnerEnv({}),
    encoding: "utf8",
  });
  expect(install.status === 0 ? "" : install.stderr).toBe("");
}

const rollbackStep = (): Step => {
  const step = rollbackSteps().find((s) => s.id === "rollback");
  if (step === undefined) throw new Error("rollback.yml has no step with id rollback");
  return step;
};

beforeAll(() => {
  const image = pulumi("local", ["stack", "output", "image"]);
  found = {
    served: image.status === 0 && image.stdout.trim() !== "" ? image.stdout.trim().split(":").pop() : undefined,
    configured: pulumi("local", ["config", "get", "imageTag"], { config: true }).stdout.trim(),
  };
  // Two good releases, so the previous good one is v1 whatever ran before this file.
  deploy("v1");
  deploy("v2");
});

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "fresh-runner-home-"));
  outputFile = join(home, "github-output");
});

afterEach(() => rmSync(home, { recursive: true, force: true }));

afterAll(() => {
  if (found.served === undefined) {
    const destroy = pulumi("local", ["destroy", "--yes", "--skip-preview", "--color", "never"], { config: true });
    expect(destroy.status === 0 ? "" : destroy.stdout + destroy.stderr).toBe("");
  } else {
    deploy(found.served);
  }
  pulumi("local", ["config", "set", "imageTag", found.configured || "v1"], { config: true });
});

describe("the workflows on a fresh runner (empty PULUMI_HOME), against the local stack", () => {
  test("the workflow's steps are the ones this file runs", () => {
    expect(rollbackStep().run).toContain("npm run rollback");
    expect(rollbackSteps().some((s) => s.run?.includes("scripts/ci/post-deploy-check.sh"))).toBe(true);
  });

  test("with no plugin and no download, the rollback fails on the missing command plugin and v2 keeps serving", async () => {
    const run = runStep(rollbackStep());
    expect(run.status).not.toBe(0);
    expect(run.out).toContain("no resource plugin 'pulumi-resource-command' found in the workspace at version v1.2.1");
    expect(run.out).toContain("the release that was serving still serves");
    expect(await serving()).toBe("200 v2");
    // rollback.ts set the target tag before pulumi up failed; the stack still runs v2.
    expect(pulumi("local", ["config", "set", "imageTag", "v2"], { config: true }).status).toBe(0);
  });

  test("with the command plugin in the fresh home (the runner's download), the rollback and the health check pass", async () => {
    installCommandPlugin();
    const rollback = runStep(rollbackStep());
    expect(rollback.status === 0 ? "" : rollback.out).toBe("");
    expect(rollback.out).toContain("rolling local back: v2 -> v1");
    expect(rollback.out).toMatch(/rolled local back to v1 in [\d.]+s/);
    expect(await serving()).toBe("200 v1");
    const outputs = stepOutputs();
    expect(outputs.url).toBe(FRONT);

    const check = rollbackSteps().find((s) => s.run?.includes("scripts/ci/post-deploy-check.sh"));
    const health = runStep(check as Step, outputs);
    expect(health.status === 0 ? "" : health.out).toBe("");
    // Nothing but the command plugin was needed: the local stack creates no docker, github or random resource.
    expect(existsSync(join(home, "plugins", COMMAND_PLUGIN))).toBe(true);
  });

  test("deploy-dev's `pulumi up` as pulumi/actions runs it (the CLI alone, downloads left on) and its health check pass", async () => {
    const steps = jobSteps("deploy.yml", "deploy-dev");
    const upStep = steps.find((s) => s.id === "up") as Step & { uses?: string; with?: Record<string, string> };
    expect(upStep.uses).toMatch(/^pulumi\/actions@/);
    expect(upStep.with?.command).toBe("up");
    installCommandPlugin();
    // The desired tag as git would hold it; the local stack deploys from its working copy of the stack file.
    expect(pulumi("local", ["config", "set", "imageTag", "v2"], { config: true }).status).toBe(0);

    // No PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: the action sets none, so a missing plugin would be downloaded.
    const env = runnerEnv(stepEnv(upStep, {}));
    expect("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" in env).toBe(false);
    const up = spawnSync(
      "pulumi",
      ["up", "--yes", "--skip-preview", "--color", "never", "-s", "local", "--config-file", LOCAL_STACK.configFile],
      {
        cwd: PROJECT_DIR,
        env,
        encoding: "utf8",
        timeout: 240_000,
      },
    );
    expect(up.status === 0 ? "" : `${up.stdout}${up.stderr}`).toBe("");
    expect(await serving()).toBe("200 v2");

    const url = spawnSync("pulumi", ["stack", "output", "url", "-s", "local"], { cwd: PROJECT_DIR, env, encoding: "utf8" });
    expect(url.stdout.trim()).toBe(FRONT);
    const check = steps.find((s) => s.run?.includes("scripts/ci/post-deploy-check.sh"));
    const health = runStep(check as Step, { url: url.stdout.trim() });
    expect(health.status === 0 ? "" : health.out).toBe("");
  });
});
