/**
 * The deployment-log hooks under the real engine (scripts/install-engine.sh): a one-resource
 * program (tests/fixtures/hooks-program) whose local command stands in for dc-release, run as a
 * project of its own in a temp dir. Each `pulumi up` must leave exactly one row and one Telegram
 * message, including a failed update (the error hook) and an update while Postgres is unreachable
 * (spooled, the deploy still succeeds).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DeploymentLog } from "../../infra/deployment-log/log";
import {
  TelegramStandIn,
  databaseUrl,
  dropSchema,
  sql,
  startTelegramStandIn,
  testSchema,
  unreachableUrl,
} from "../integration/deployment-log-helpers";
import { FixtureProject, Run } from "./fixture-project";

jest.setTimeout(300_000);

const TOKEN = "6012345678:AAE_program-token-must-stay-hidden-0123456";
const SCHEMA = testSchema("program");
let project: FixtureProject;
let telegram: TelegramStandIn;

/** Runs pulumi asynchronously (the Telegram stand-in lives in this process), bounded by a timeout. */
function pulumi(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return project.run(args, { env });
}

async function configure(values: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
  const run = await project.configure(values, secrets);
  expect(run.status === 0 ? "" : run.out).toBe("");
}

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

function result(tag: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ok: true,
    action: "deploy",
    env: "probe",
    tag,
    digest: digest(tag.slice(-1)),
    changed: true,
    durationMs: 2500,
    ...fields,
  });
}

/** One release: the result the stand-in prints, its exit code, and a deploy id for the run. */
async function release(runId: string, tag: string, line: string, exitCode = 0): Promise<Run> {
  await configure({ tag, resultLine: line, exitCode: String(exitCode) });
  return pulumi(["up", "--yes", "--skip-preview", "--color", "never"], { DEEP_CALM_DEPLOY_ID: runId, GITHUB_ACTOR: "claude-code-bot" });
}

async function table(): Promise<Record<string, unknown>[]> {
  return sql(`SELECT deploy_id, tag, status, rollback_from, deployed_by, duration_ms FROM "${SCHEMA}".deployments ORDER BY id`);
}

beforeAll(async () => {
  project = new FixtureProject("hooks-program", "probe", "hooks-probe-only");
  telegram = await startTelegramStandIn();
  const init = await pulumi(["stack", "init"]);
  expect(init.status === 0 ? "" : init.out).toBe("");
  await configure(
    { schema: SCHEMA, spoolPath: join(project.dir, "spool.jsonl"), telegramApiUrl: telegram.url },
    { databaseUrl: databaseUrl(), telegramBotToken: TOKEN },
  );
});

afterAll(async () => {
  await telegram.close();
  await dropSchema(SCHEMA);
  project.remove();
});

test("pulumi up records success, rolled_back and failed, one row and one message each", async () => {
  const first = await release("run-1", "sha-aaaaaaa", result("sha-aaaaaaa", { previous: null }));
  expect(first.status).toBe(0);
  const second = await release("run-2", "sha-bbbbbbb", result("sha-bbbbbbb", { previous: { tag: "sha-aaaaaaa", digest: digest("a") } }));
  expect(second.status).toBe(0);
  const back = await release("run-3", "sha-aaaaaaa", result("sha-aaaaaaa", { previous: { tag: "sha-bbbbbbb", digest: digest("b") } }));
  expect(back.status).toBe(0);
  const failedLine = result("sha-ccccccc", {
    ok: false,
    reason: "health check failed: /healthz answered 500",
    rolledBack: true,
    previous: { tag: "sha-aaaaaaa", digest: digest("a") },
    serving: { tag: "sha-aaaaaaa", digest: digest("a"), port: 8101 },
  });
  const failed = await release("run-4", "sha-ccccccc", failedLine, 1);
  expect(failed.status).not.toBe(0);
  expect(failed.out).toContain("health check failed");

  expect(await table()).toEqual([
    {
      deploy_id: "run-1:probe:probe-release-deploy",
      tag: "sha-aaaaaaa",
      status: "success",
      rollback_from: null,
      deployed_by: "claude-code-bot",
      duration_ms: 2500,
    },
    {
      deploy_id: "run-2:probe:probe-release-deploy",
      tag: "sha-bbbbbbb",
      status: "success",
      rollback_from: null,
      deployed_by: "claude-code-bot",
      duration_ms: 2500,
    },
    {
      deploy_id: "run-3:probe:probe-release-deploy",
      tag: "sha-aaaaaaa",
      status: "rolled_back",
      rollback_from: "sha-bbbbbbb",
      deployed_by: "claude-code-bot",
      duration_ms: 2500,
    },
    {
      deploy_id: "run-4:probe:probe-release-deploy",
      tag: "sha-ccccccc",
      status: "failed",
      rollback_from: null,
      deployed_by: "claude-code-bot",
      duration_ms: 2500,
    },
  ]);
  const texts = telegram.requests.map((r) => r.body.text ?? "");
  expect(texts.map((t) => t.split("\n")[0])).toEqual([
    "🚀 Deploy to Probe: success",
    "🚀 Deploy to Probe: success",
    "⏪ Rollback of Probe: rolled_back to sha-aaaaaaa",
    "❌ Deploy to Probe: failed",
  ]);
  expect(texts[3]).toContain(
    "Commit: ccccccc\nError: health check failed: /healthz answered 500\n\n🔄 Auto-rollback: reverted to sha-aaaaaaa\nURL: https://probe.example",
  );
  for (const text of [...texts, first.out, second.out, back.out, failed.out]) {
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(new URL(databaseUrl()).password);
  }
});

test("Postgres unreachable during pulumi up: the deploy succeeds, the record waits in the spool, a flush writes it once", async () => {
  await configure({}, { databaseUrl: unreachableUrl() });
  const run = await release("run-5", "sha-ddddddd", result("sha-ddddddd", { previous: { tag: "sha-aaaaaaa", digest: digest("a") } }));
  expect(run.status).toBe(0);
  expect(run.out).toMatch(/warning: deployment log: deployment log unreachable, record spooled/);
  expect(run.out).not.toContain(new URL(databaseUrl()).password);
  const spool = join(project.dir, "spool.jsonl");
  expect(readFileSync(spool, "utf8").trim().split("\n")).toHaveLength(1);

  const log = new DeploymentLog({ databaseUrl: databaseUrl(), schema: SCHEMA, spoolPath: spool });
  expect(await log.flush()).toEqual({ pending: 1, inserted: 1, remaining: 0 });
  expect(await log.flush()).toEqual({ pending: 0, inserted: 0, remaining: 0 });
  const rows = await table();
  expect(rows).toHaveLength(5);
  expect(rows[4]).toMatchObject({ deploy_id: "run-5:probe:probe-release-deploy", tag: "sha-ddddddd", status: "success" });
  expect(telegram.requests).toHaveLength(5);
});
