/**
 * The deployment log as a user reads it, through the commands themselves (`npm run history`,
 * `flush-spool`, `rollback`) and the engine's CLI. They run in a copy of the project in a temp
 * directory, whose `local` stack lives in the copy's own backend (.pulumi-state) and deploys
 * nothing, so the lead's local stack is never touched. The stack's config alone names the
 * database and schema (no DATABASE_URL or DEEP_CALM_* variable is set), and the spool the program
 * writes from stacks/, where the engine runs it, is the one `flush-spool` reads.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_STACK, projectPath } from "../../scripts/lib/pulumi";
import { REPO_ROOT, databaseUrl, dropSchema, sql, testSchema, unreachableUrl } from "../integration/deployment-log-helpers";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";

jest.setTimeout(180_000);

const SCHEMA = testSchema("cli");
let copy: string;

/** The caller's environment without anything that could name a log: only the stack config may. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: projectPath(process.env.PATH ?? ""),
    PULUMI_CONFIG_PASSPHRASE: LOCAL_STACK.passphrase,
  };
  for (const name of ["DATABASE_URL", "DEEP_CALM_DB_SCHEMA", "DEEP_CALM_SPOOL", "PULUMI_BACKEND_URL"]) delete env[name];
  return env;
}

/** Runs a command in the copy, bounded in time. */
function run(
  cmd: string,
  args: string[],
  cwd: string = copy,
  input?: string,
  extraEnv: NodeJS.ProcessEnv = {},
): { status: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, env: { ...cleanEnv(), ...extraEnv }, input, encoding: "utf8", timeout: 120_000 });
  return { status: r.status ?? 1, out: r.stdout ?? "", err: r.stderr ?? "" };
}

/** `npm run <script> -- <args>` of the copy: tsx runs the copy's script, the one package.json names. */
function npmRun(script: string, args: string[]): { status: number; out: string; err: string } {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const [runner, file] = (pkg.scripts[script] ?? "").split(" ");
  expect({ script, runner }).toEqual({ script, runner: "tsx" });
  return run(join(REPO_ROOT, "node_modules/.bin/tsx"), [file as string, ...args]);
}

/** The engine on the copy's local stack: its backend and its working copy of Pulumi.local.yaml. */
function stackPulumi(args: string[], input?: string): { status: number; out: string; err: string } {
  const configFile = join(copy, ".pulumi-state", "Pulumi.local.yaml");
  return run("pulumi", [...args, "-s", "local", "--config-file", configFile], copy, input, {
    PULUMI_BACKEND_URL: `file://${join(copy, ".pulumi-state")}`,
  });
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), "dc-log-commands-"));
  for (const entry of ["scripts", "infra", "stacks", "host", "Pulumi.yaml", "Pulumi.local.yaml", "package.json", "tsconfig.json"]) {
    cpSync(join(REPO_ROOT, entry), join(copy, entry), { recursive: true });
  }
  for (const entry of ["node_modules", ".engine", ".node"]) {
    if (existsSync(join(REPO_ROOT, entry))) symlinkSync(join(REPO_ROOT, entry), join(copy, entry));
  }
  // The first command creates the copy's local stack (scripts/lib/pulumi.ts); give it its log now.
  const created = npmRun("rollback", ["local"]);
  expect(created.err).toContain("nothing to roll back to: local has no release on its host");
  expect(stackPulumi(["config", "set", "--secret", "deploymentLogDatabaseUrl"], databaseUrl()).status).toBe(0);
  expect(stackPulumi(["config", "set", "deploymentLogSchema", SCHEMA]).status).toBe(0);
});

afterAll(async () => {
  await dropSchema(SCHEMA);
  rmSync(copy, { recursive: true, force: true });
});

/** A real deploy's line as a return to v2 on the local env (the host's verdict), keyed by the run (no host release id). */
const RETURN_TO_V2 = resultWith(DEPLOY_FIRST, {
  env: "local",
  tag: "v2",
  digest: `sha256:${"2".repeat(64)}`,
  releaseId: null,
  wentBack: true,
  previous: { tag: "v3", digest: `sha256:${"3".repeat(64)}` },
  durationMs: 1200,
});

test("a record spooled by the program (run from stacks/) is the one npm run flush-spool -- local writes, to the stack's schema", () => {
  // The program's recorder, with the stack's configured spool value, from the engine's working directory.
  const program = join(copy, "spool-probe.ts");
  writeFileSync(
    program,
    [
      'import { recorderFor } from "./infra/deployment-log/recording";',
      "(async () => {",
      `  const recorder = await recorderFor({ env: "local", databaseUrl: ${JSON.stringify(unreachableUrl())}, schema: ${JSON.stringify(SCHEMA)}, spoolPath: ".deep-calm/spool.jsonl", report: () => undefined }, "cli-spool");`,
      `  const line = ${JSON.stringify(RETURN_TO_V2)};`,
      '  const out = await recorder.afterDeploy({ name: "local-release-deploy", newOutputs: { stdout: line } });',
      "  console.log(JSON.stringify(out.write));",
      "})();",
    ].join("\n"),
  );
  const spooled = run(join(REPO_ROOT, "node_modules/.bin/tsx"), [program], join(copy, "stacks"));
  expect(spooled.status).toBe(0);
  const spoolPath = join(copy, ".deep-calm", "spool.jsonl");
  expect(JSON.parse(spooled.out.trim().split("\n").pop() ?? "{}")).toMatchObject({ spooled: true, stored: false });
  expect(spooled.out).toContain(`record spooled to ${spoolPath}`);
  expect(existsSync(join(copy, "stacks", ".deep-calm"))).toBe(false);
  expect(readFileSync(spoolPath, "utf8")).not.toContain(new URL(databaseUrl()).password);

  const flushed = npmRun("flush-spool", ["local", "--json"]);
  expect(flushed.err).not.toMatch(/error/i);
  expect(JSON.parse(flushed.out.trim())).toEqual({ spool: spoolPath, pending: 1, inserted: 1, remaining: 0 });
  expect(existsSync(spoolPath)).toBe(false);
  return sql(
    `SELECT tag, status, rollback_from FROM "${SCHEMA}".deployments WHERE deploy_id = 'cli-spool:local:local-release-deploy'`,
  ).then((rows) => expect(rows).toEqual([{ tag: "v2", status: "rolled_back", rollback_from: "v3" }]));
});

test("npm run history -- local reads the schema in the stack's config, with no environment variable", () => {
  const history = npmRun("history", ["local", "--json"]);
  expect(history.err).toBe("");
  const rows = JSON.parse(history.out) as { deployId: string; tag: string; status: string }[];
  expect(rows.map((r) => [r.deployId, r.tag, r.status])).toEqual([["cli-spool:local:local-release-deploy", "v2", "rolled_back"]]);
  const table = npmRun("history", ["local"]);
  expect(table.out).toMatch(/local\s+v2\s+rolled_back/);
  const metrics = JSON.parse(npmRun("metrics", ["local", "--json"]).out) as { env: string; deploys: number; rolledBack: number }[];
  expect(metrics).toEqual([expect.objectContaining({ env: "local", deploys: 1, rolledBack: 1 })]);
});

test("bad input is refused before anything runs: the key, the value, what is allowed", () => {
  expect(npmRun("history", []).err).toContain("usage: npm run history -- <stack> [--limit N] [--json]");
  expect(npmRun("history", ["staging"]).err).toContain('stack: "staging" is not allowed; use one of the stacks: dev, test, prod, local');
  expect(npmRun("metrics", ["local", "--env", "dev"]).err).toContain("--env is not allowed: the stack local names the env (local)");
  expect(stackPulumi(["config", "set", "deploymentLogSchema", "Bad-Schema"]).status).toBe(0);
  const bad = npmRun("history", ["local"]);
  expect(bad.status).toBe(1);
  expect(bad.err).toContain('deploymentLogSchema: "Bad-Schema" is not allowed; use a schema name of lowercase letters, digits and _');
  expect(bad.err + bad.out).not.toContain(new URL(databaseUrl()).password);
  expect(stackPulumi(["config", "set", "deploymentLogSchema", SCHEMA]).status).toBe(0);
});

test("npm run rollback -- local with no release on the host: nothing to roll back to, exit 1, nothing changed", () => {
  const before = readFileSync(join(copy, ".pulumi-state", "Pulumi.local.yaml"), "utf8");
  const back = npmRun("rollback", ["local"]);
  expect(back.status).toBe(1);
  expect(back.err).toContain("nothing to roll back to: local has no release on its host (never deployed, or destroyed); nothing changed");
  expect(readFileSync(join(copy, ".pulumi-state", "Pulumi.local.yaml"), "utf8")).toBe(before);
});
