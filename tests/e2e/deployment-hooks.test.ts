/**
 * The deployment-log hooks on the real release command, under the real engine
 * (scripts/dev/install-engine.sh): tests/fixtures/hooks-program declares the project's own Release
 * component, whose `hooks-e2e-release-deploy` runs host/dc-release over SSH on the local target,
 * for an env of its own (hooks-e2e: ports 8421/8422, front 8423), as a project of its own in a
 * temp dir. Each `pulumi up` must leave exactly one row and one Telegram message, and the row is
 * what dc-release itself reported for that attempt (its deploy.log line: release id, tag, digest,
 * times, outcome): a deploy, a return to an earlier release, a release that fails its health gate
 * (the error hook), and a deploy while Postgres is unreachable (spooled, the deploy succeeds).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { LoggedResult, ReleaseResult, releaseResultFrom } from "../../infra/release-result";
import {
  TelegramStandIn,
  databaseUrl,
  dropSchema,
  sql,
  startTelegramStandIn,
  testSchema,
  unreachableUrl,
} from "../integration/deployment-log-helpers";
import { TestEnv, imageDigests } from "../integration/helpers";
import { FixtureProject, Run } from "./fixture-project";

jest.setTimeout(300_000);

const ENV = "hooks-e2e";
const RELEASE_COMMAND = `${ENV}-release-deploy`;
const TOKEN = "6012345678:AAE_program-token-must-stay-hidden-0123456";
const SCHEMA = testSchema("hooks");
const RUN = `hooks-${process.pid}`;
/** The fixture's env on the host: only to read its deploy.log and to clear what a killed run left. */
const env = new TestEnv(ENV, [8421, 8422], 8423);
let project: FixtureProject;
let telegram: TelegramStandIn;

async function configure(values: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
  const run = await project.configure(values, secrets);
  expect(run.status === 0 ? "" : run.out).toBe("");
}

/** One `pulumi up` of `tag`, and the one result line dc-release wrote on the host for it. */
async function release(runId: string, tag: string): Promise<{ run: Run; line: LoggedResult }> {
  const before = (await env.deployResults()).length;
  await configure({ tag, digest: imageDigests()[tag] as string });
  const run = await project.run(["up", "--yes", "--skip-preview", "--color", "never"], {
    env: { DEEP_CALM_DEPLOY_ID: runId, GITHUB_ACTOR: "claude-code-bot" },
  });
  const lines = await env.deployResults();
  expect({ attempts: lines.length - before, out: lines.length - before === 1 ? "" : run.out }).toEqual({ attempts: 1, out: "" });
  return { run, line: lines[lines.length - 1] as LoggedResult };
}

/** The row the hooks wrote for the host's attempt (keyed by its release id). */
async function rowOf(line: LoggedResult): Promise<Record<string, unknown>> {
  const rows = await sql(
    `SELECT deploy_id, env, tag, digest, status, rollback_from, deployed_by, duration_ms, started_at, finished_at, logs
       FROM "${SCHEMA}".deployments WHERE deploy_id = $1`,
    [`host-${line.releaseId}:${ENV}:${RELEASE_COMMAND}`],
  );
  expect(rows).toHaveLength(1);
  return rows[0] as Record<string, unknown>;
}

/** The row's fields that come from dc-release's own result line. */
function fromHost(line: LoggedResult, status: string, rollbackFrom: string | null = null): Record<string, unknown> {
  return {
    deploy_id: `host-${line.releaseId}:${ENV}:${RELEASE_COMMAND}`,
    env: ENV,
    tag: line.tag,
    digest: line.digest,
    status,
    rollback_from: rollbackFrom,
    deployed_by: "claude-code-bot",
    duration_ms: line.durationMs,
    started_at: new Date(line.startedAt),
    finished_at: new Date(line.finishedAt),
  };
}

/** Rows in the log; 0 before the first write creates its table. */
async function rowCount(): Promise<number> {
  const [table] = await sql<{ t: string | null }>("SELECT to_regclass($1) AS t", [`"${SCHEMA}".deployments`]);
  if (!table?.t) return 0;
  return Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "${SCHEMA}".deployments`))[0]?.n);
}

/** The stack's `result` output: the release result the program parsed from the same attempt. */
async function stackResult(): Promise<ReleaseResult> {
  const out = await project.run(["stack", "output", "result", "--json"]);
  return releaseResultFrom(JSON.parse(out.stdout));
}

beforeAll(async () => {
  await env.teardown();
  project = new FixtureProject("hooks-program", "hooks", "hooks-e2e-only");
  telegram = await startTelegramStandIn();
  const init = await project.run(["stack", "init"]);
  expect(init.status === 0 ? "" : init.out).toBe("");
  await configure(
    { schema: SCHEMA, spoolPath: join(project.dir, "spool.jsonl"), telegramApiUrl: telegram.url },
    { telegramBotToken: TOKEN },
  );
});

afterAll(async () => {
  const destroy = await project.destroy();
  await env.teardown();
  await telegram.close();
  await dropSchema(SCHEMA);
  project.remove();
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
});

test("pulumi up of the real release records dc-release's own result: success, rolled_back and failed, one row and one message each", async () => {
  await configure({}, { databaseUrl: databaseUrl() });
  const rowsBefore = await rowCount();
  const messagesBefore = telegram.requests.length;
  const digests = imageDigests();

  const first = await release(`${RUN}-1`, "v1");
  expect(first.run.status === 0 ? "" : first.run.out).toBe("");
  expect(first.line).toMatchObject({ ok: true, tag: "v1", digest: digests.v1 });
  expect(await stackResult()).toMatchObject({ releaseId: first.line.releaseId, tag: "v1", digest: digests.v1 });
  expect(await rowOf(first.line)).toMatchObject(fromHost(first.line, "success"));

  const second = await release(`${RUN}-2`, "v2");
  expect(second.run.status === 0 ? "" : second.run.out).toBe("");
  expect(second.line).toMatchObject({ ok: true, tag: "v2", digest: digests.v2, previous: { tag: "v1" } });
  expect(await rowOf(second.line)).toMatchObject(fromHost(second.line, "success"));

  // Back to v1, which served this env before v2 did: the host says so, the row says rolled_back.
  const back = await release(`${RUN}-3`, "v1");
  expect(back.run.status === 0 ? "" : back.run.out).toBe("");
  expect(back.line).toMatchObject({ ok: true, tag: "v1", digest: digests.v1, previous: { tag: "v2" } });
  expect(await rowOf(back.line)).toMatchObject(fromHost(back.line, "rolled_back", "v2"));

  const failed = await release(`${RUN}-4`, "bad-unhealthy");
  expect(failed.run.status).not.toBe(0);
  expect(failed.line).toMatchObject({ ok: false, tag: "bad-unhealthy", digest: digests["bad-unhealthy"], serving: { tag: "v1" } });
  expect(failed.line.reason).toMatch(/^health check failed/);
  expect(failed.run.out).toContain(failed.line.reason as string);
  const failedRow = await rowOf(failed.line);
  expect(failedRow).toMatchObject(fromHost(failed.line, "failed"));
  expect(String(failedRow.logs)).toContain(failed.line.reason as string);

  expect((await rowCount()) - rowsBefore).toBe(4);
  const texts = telegram.requests.slice(messagesBefore).map((r) => r.body.text ?? "");
  expect(texts.map((t) => t.split("\n")[0])).toEqual([
    "🚀 Deploy to Hooks-e2e: success",
    "🚀 Deploy to Hooks-e2e: success",
    "⏪ Rollback of Hooks-e2e: rolled_back to v1",
    "❌ Deploy to Hooks-e2e: failed",
  ]);
  expect(texts[0]).toContain(`Duration: ${Math.round(first.line.durationMs / 1000)}s`);
  expect(texts[3]).toContain(`Error: ${failed.line.reason as string}\n\n🔄 Auto-rollback: reverted to v1\nURL: http://127.0.0.1:8423`);
  for (const text of [...texts, first.run.out, second.run.out, back.run.out, failed.run.out]) {
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(new URL(databaseUrl()).password);
  }
});

test("Postgres unreachable during pulumi up: the release deploys, its record waits in the spool, a flush writes it once", async () => {
  await configure({}, { databaseUrl: unreachableUrl() });
  const spool = join(project.dir, "spool.jsonl");
  expect(existsSync(spool) ? readFileSync(spool, "utf8") : "").toBe("");
  const messagesBefore = telegram.requests.length;
  const v3 = await release(`${RUN}-5`, "v3");
  expect(v3.run.status === 0 ? "" : v3.run.out).toBe("");
  expect(v3.line).toMatchObject({ ok: true, tag: "v3", digest: imageDigests().v3 });
  expect(v3.run.out).toMatch(/warning: deployment log: deployment log unreachable, record spooled/);
  expect(v3.run.out).not.toContain(new URL(databaseUrl()).password);
  const spooled = readFileSync(spool, "utf8").trim().split("\n");
  expect(spooled).toHaveLength(1);
  expect(JSON.parse(spooled[0] as string)).toMatchObject({ tag: "v3", digest: v3.line.digest, durationMs: v3.line.durationMs });

  const log = new DeploymentLog({ databaseUrl: databaseUrl(), schema: SCHEMA, spoolPath: spool });
  expect(await log.flush()).toEqual({ pending: 1, inserted: 1, remaining: 0 });
  expect(await log.flush()).toEqual({ pending: 0, inserted: 0, remaining: 0 });
  expect(await rowOf(v3.line)).toMatchObject(fromHost(v3.line, "success"));
  expect(telegram.requests.slice(messagesBefore).map((r) => (r.body.text ?? "").split("\n")[0])).toEqual([
    "🚀 Deploy to Hooks-e2e: success",
  ]);
});
