/**
 * `pulumi up` SIGKILLed mid-deploy, under the real engine: a program of its own
 * (tests/fixtures/interrupt-program: the project's Release component and deployment-log hooks)
 * deploys an env of its own on the local target. The engine dies with its program and hooks. The
 * command provider sends no signal (pulumi-command does not watch its context); it dies itself at
 * the command's next line of output, when its log call to the dead engine falls back to stderr
 * and the write raises SIGPIPE. dc-release runs the release to its end anyway and keeps its result,
 * which reached nobody. The rerun (after `pulumi cancel`, as a user does) must record the killed
 * attempt as a `failed` row whose reason begins with "interrupted".
 */
import { ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { parseDeployLog } from "../../infra/release-result";
import { databaseUrl, dropSchema, sql, testSchema } from "../integration/deployment-log-helpers";
import { REPOSITORY, TestEnv, imageDigests, sleep } from "../integration/helpers";
import { FixtureProject, Run } from "./fixture-project";

jest.setTimeout(300_000);

const SCHEMA = testSchema("interrupted");
const env = new TestEnv("e2eintr", [8177, 8178], 8077);
let project: FixtureProject;

const start = (args: string[]): ChildProcess => project.start(args, { DEEP_CALM_DEPLOY_ID: `run-${Date.now()}` });
const finish = (child: ChildProcess): Promise<Run> => project.finish(child);
const pulumi = (args: string[]): Promise<Run> => finish(start(args));

async function configure(values: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
  const run = await project.configure(values, secrets);
  expect(run.status === 0 ? "" : run.out).toBe("");
}

async function deployConfig(tag: string, healthRetries: number): Promise<void> {
  await configure({ tag, image: `${REPOSITORY}:${tag}`, digest: imageDigests()[tag] as string, healthRetries: String(healthRetries) });
}

const up = (): Promise<Run> => pulumi(["up", "--yes", "--skip-preview", "--color", "never"]);

/** Reads a host file (the test runs on the host); "" while it is missing. */
function hostFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Polls `check` every 200 ms until it gives a value, at most `timeoutMs`. */
async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Processes working in `dir`: the plugins a killed CLI of this test left behind. */
function leftovers(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

async function rows(): Promise<Record<string, unknown>[]> {
  return sql(`SELECT deploy_id, tag, status, logs FROM "${SCHEMA}".deployments ORDER BY deployed_at, id`);
}

beforeAll(async () => {
  project = new FixtureProject("interrupt-program", "intr", "interrupted-probe-only");
  const init = await pulumi(["stack", "init"]);
  expect(init.status === 0 ? "" : init.out).toBe("");
  await env.reset();
  await configure(
    {
      env: env.name,
      frontUrl: env.frontUrl,
      lockTimeoutSeconds: "60",
      schema: SCHEMA,
      spoolPath: join(project.dir, "spool.jsonl"),
    },
    { databaseUrl: databaseUrl() },
  );
  const ports = await pulumi([
    "config",
    "set-all",
    "--path",
    "--plaintext",
    `ports[0]=${env.ports[0]}`,
    "--path",
    "--plaintext",
    `ports[1]=${env.ports[1]}`,
  ]);
  expect(ports.status === 0 ? "" : ports.out).toBe("");
});

afterAll(async () => {
  for (const pid of leftovers(project.dir)) process.kill(pid, "SIGKILL");
  await env.teardown();
  await dropSchema(SCHEMA);
  project.remove();
});

test("pulumi up SIGKILLed mid-deploy: the host keeps the trace, the rerun records the killed attempt as failed: interrupted", async () => {
  await deployConfig("v1", 100);
  const first = await up();
  expect(first.status === 0 ? "" : first.out).toBe("");

  // bad-slow answers after 120 s; the gate gives up after 60 tries (about 6 s): the kill lands in
  // the health phase, and the release then fails on the host with nobody to record it.
  await deployConfig("bad-slow", 60);
  const deployLog = env.layout.deployLog;
  const linesBefore = hostFile(deployLog)
    .split("\n")
    .filter((l) => l !== "").length;
  const killed = start(["up", "--yes", "--skip-preview", "--color", "never"]);
  const killedRun = finish(killed);
  const marker = await waitFor("the release in its health phase", () =>
    /^phase=healthMs$/m.test(hostFile(`${env.layout.stateDir}/attempt`)) ? hostFile(`${env.layout.stateDir}/attempt`) : undefined,
  );
  const releaseId = /^releaseId=(.+)$/m.exec(marker)?.[1];
  process.kill(killed.pid as number, "SIGKILL");
  await killedRun;

  // No signal: dc-release gives up on the gate, undoes and writes its line. The provider died at
  // that line of output, so the result reached nobody.
  const line = await waitFor("the killed attempt's deploy.log line", () => parseDeployLog(hostFile(deployLog))[linesBefore]);
  expect(line).toMatchObject({ ok: false, releaseId, tag: "bad-slow", serving: { tag: "v1" }, delivered: false });
  expect(line.reason).toMatch(/^health check failed/);
  // The killed CLI's language host and provider run on, orphaned (the CLI gives each plugin a
  // process group of its own); they are this test's, found by their working directory.
  for (const pid of leftovers(project.dir)) process.kill(pid, "SIGKILL");
  expect(await rows()).toHaveLength(1);

  // The user's rerun: the stack lock of the killed run is cleared, then the deploy goes on.
  expect((await pulumi(["cancel", "--yes"])).status).toBe(0);
  await deployConfig("v2", 100);
  const rerun = await up();
  expect(rerun.status === 0 ? "" : rerun.out).toBe("");

  const recorded = await rows();
  expect(recorded.map((r) => [r.tag, r.status])).toEqual([
    ["v1", "success"],
    ["bad-slow", "failed"],
    ["v2", "success"],
  ]);
  expect(recorded[1]?.deploy_id).toBe(`host-${releaseId}:${env.name}:${env.name}-release-deploy`);
  expect(String(recorded[1]?.logs)).toMatch(
    /^interrupted: the caller went away \(pulumi up or its SSH session\) during health; it ended: failed: health check failed/,
  );
  expect(String(recorded[1]?.logs)).toContain(`host log: ${line.logFile as string}`);
});
