/**
 * The deployment log against the local target's real Postgres (a schema per run, dropped after)
 * and a Telegram stand-in on 127.0.0.1: hook records, the spool, metrics, messages.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { flushCommand, historyCommand, metricsCommand } from "../../infra/deployment-log/commands";
import { DeploymentRecorder } from "../../infra/deployment-log/hooks";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { DeploymentRecord } from "../../infra/deployment-log/record";
import { TelegramNotifier } from "../../infra/deployment-log/telegram";
import { type ReleaseResult, type UnconfirmedAttempt } from "../../infra/release-result";
import { EXPECTED_7_DAYS, HISTORY, NOW } from "../fixtures/deployment-history";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";
import {
  TelegramStandIn,
  databaseUrl,
  dropSchema,
  logFor,
  sql,
  startTelegramStandIn,
  testSchema,
  unreachableUrl,
} from "./deployment-log-helpers";

jest.setTimeout(60_000);

const TOKEN = "7012345678:AAF_stand-in-token-never-shown-0123456789";
const DB_PASSWORD = new URL(databaseUrl()).password;
const schemas: string[] = [];
let tmp: string;
let telegram: TelegramStandIn;

function schema(purpose: string): string {
  const name = testSchema(purpose);
  schemas.push(name);
  return name;
}

async function rows(s: string): Promise<Record<string, unknown>[]> {
  return sql(`SELECT * FROM "${s}".deployments ORDER BY id`);
}

/**
 * A real deploy's line as one on dev: keyed by the run unless a host release id is given, and no
 * host verdict on going back (the log's order of first serving decides).
 */
function releaseLine(fields: Partial<ReleaseResult>): string {
  return resultWith(DEPLOY_FIRST, {
    env: "dev",
    releaseId: null,
    wentBack: null,
    startedAt: "2026-01-10T11:58:00.000Z",
    finishedAt: "2026-01-10T12:00:34.000Z",
    durationMs: 154_000,
    ...fields,
  });
}

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;
const DIGEST_C = `sha256:${"c".repeat(64)}`;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "deployment-log-"));
  telegram = await startTelegramStandIn();
});

afterAll(async () => {
  await telegram.close();
  for (const s of schemas) {
    await dropSchema(s);
  }
  rmSync(tmp, { recursive: true, force: true });
});

test("migrations apply once, in a transaction, recorded in schema_migrations", async () => {
  const s = schema("migrate");
  const log = logFor(s, path.join(tmp, "migrate.jsonl"), { migrate: false });
  expect(await log.migrate()).toEqual(["001_deployments.sql", "002_maintenance.sql"]);
  expect(await log.migrate()).toEqual([]);
  expect(await sql(`SELECT name FROM "${s}".schema_migrations ORDER BY name`)).toEqual([
    { name: "001_deployments.sql" },
    { name: "002_maintenance.sql" },
  ]);
  const columns = await sql<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'deployments' ORDER BY ordinal_position",
    [s],
  );
  expect(columns.map((c) => c.column_name)).toEqual([
    "id",
    "deploy_id",
    "env",
    "tag",
    "digest",
    "commit",
    "committed_at",
    "status",
    "deployed_by",
    "started_at",
    "finished_at",
    "deployed_at",
    "duration_ms",
    "rollback_from",
    "logs",
  ]);
  await expect(sql(`INSERT INTO "${s}".deployments (deploy_id, env, tag, status) VALUES ('x', 'dev', 't', 'ok')`)).rejects.toThrow(
    /check constraint/,
  );
});

test("hooks record success, rolled_back and failed, and announce each in the seed's format", async () => {
  const s = schema("hooks");
  const log = logFor(s, path.join(tmp, "hooks.jsonl"));
  const reports: string[] = [];
  telegram.requests.length = 0;
  const notifier = new TelegramNotifier({ apiBaseUrl: telegram.url, token: TOKEN, chatId: "-100200300", backoffMs: 10 });
  const recorder = (runId: string): DeploymentRecorder =>
    new DeploymentRecorder({
      env: "dev",
      runId,
      url: "https://dev.dc.example",
      who: "claude-code-bot",
      commit: "abc1234def5678",
      commitSubject: "feat: add CAC sparkline",
      logsUrl: "https://github.com/o/r/actions/runs/1",
      log,
      notifier,
      secrets: [TOKEN, DB_PASSWORD],
      report: (m) => reports.push(m),
    });

  // 1: first release A; 2: B replaces A; 3: A again (already served, not the previous one) = rollback.
  const name = "dev-release-deploy";
  const a = await recorder("run-1").afterDeploy({
    name,
    newOutputs: { stdout: releaseLine({ tag: "sha-aaaaaaa", digest: DIGEST_A, previous: null }) },
  });
  const b = await recorder("run-2").afterDeploy({
    name,
    newOutputs: { stdout: releaseLine({ tag: "sha-bbbbbbb", digest: DIGEST_B, previous: { tag: "sha-aaaaaaa", digest: DIGEST_A } }) },
  });
  const back = await recorder("run-3").afterDeploy({
    name,
    newOutputs: { stdout: releaseLine({ tag: "sha-aaaaaaa", digest: DIGEST_A, previous: { tag: "sha-bbbbbbb", digest: DIGEST_B } }) },
  });
  // 4: C fails its health gate; dc-release switched back to A and exited 1.
  const errorText = [
    `Process exited with status 1: running "bash /opt/deep-calm/dev/dc-release deploy …" on 127.0.0.1:2222:`,
    "Stdout:",
    "[dc-release] health: /healthz answered 500 (attempt 30/30)",
    `[dc-release] debug DATABASE_URL=${databaseUrl()}`,
    releaseLine({
      ok: false,
      exitCode: 1,
      tag: "sha-ccccccc",
      digest: DIGEST_C,
      reason: "health check failed: /healthz answered 500 Internal Server Error",
      rolledBack: true,
      previous: { tag: "sha-aaaaaaa", digest: DIGEST_A },
      serving: { tag: "sha-aaaaaaa", digest: DIGEST_A, port: 8101 },
    }),
    "Stderr:",
  ].join("\n");
  const failed = await recorder("run-4").afterError({ name, failedOperation: "update", errors: [errorText] });
  // The SDK may call a hook again for the same run: same deploy id, no second row.
  await recorder("run-4").afterError({ name, failedOperation: "update", errors: [errorText] });

  for (const out of [a, b, back, failed]) {
    expect(out.write).toMatchObject({ stored: true, spooled: false });
    expect(out.notify).toMatchObject({ sent: true, attempts: 1 });
  }
  const table = await rows(s);
  expect(table.map((r) => [r.deploy_id, r.tag, r.status, r.rollback_from])).toEqual([
    ["run-1:dev:dev-release-deploy", "sha-aaaaaaa", "success", null],
    ["run-2:dev:dev-release-deploy", "sha-bbbbbbb", "success", null],
    ["run-3:dev:dev-release-deploy", "sha-aaaaaaa", "rolled_back", "sha-bbbbbbb"],
    ["run-4:dev:dev-release-deploy", "sha-ccccccc", "failed", null],
  ]);
  expect(table[3]).toMatchObject({
    env: "dev",
    digest: DIGEST_C,
    commit: "abc1234def5678",
    deployed_by: "claude-code-bot",
    duration_ms: 154_000,
  });
  expect(String(table[3]?.logs)).toContain("health: /healthz answered 500");
  expect(String(table[3]?.logs)).not.toContain(DB_PASSWORD);

  expect(telegram.requests).toHaveLength(5);
  for (const req of telegram.requests) {
    expect(req.path).toBe(`/bot${TOKEN}/sendMessage`);
    expect(req.body).toMatchObject({ chat_id: "-100200300", parse_mode: "HTML" });
  }
  expect(telegram.requests[0]?.body.text).toBe(
    [
      "🚀 Deploy to Dev: success",
      "Commit: abc1234 (feat: add CAC sparkline)",
      "Author: claude-code-bot",
      "Duration: 2m 34s",
      "URL: https://dev.dc.example",
      "",
      "✅ Health check passed",
    ].join("\n"),
  );
  expect(telegram.requests[2]?.body.text?.split("\n")[0]).toBe("⏪ Rollback of Dev: rolled_back to sha-aaaaaaa");
  expect(telegram.requests[3]?.body.text).toBe(
    [
      "❌ Deploy to Dev: failed",
      "Commit: abc1234 (feat: add CAC sparkline)",
      "Error: health check failed: /healthz answered 500 Internal Server Error",
      "",
      "🔄 Auto-rollback: reverted to sha-aaaaaaa",
      "URL: https://dev.dc.example",
      "",
      "Logs: https://github.com/o/r/actions/runs/1",
    ].join("\n"),
  );
  for (const req of telegram.requests) {
    expect(req.body.text).not.toContain(TOKEN);
    expect(req.body.text).not.toContain(DB_PASSWORD);
  }
  expect(reports).toEqual([]);
  // 5: B again: it served before, but first after A did, so going from A to B is a deploy again.
  const forward = await recorder("run-5").afterDeploy({
    name,
    newOutputs: { stdout: releaseLine({ tag: "sha-bbbbbbb", digest: DIGEST_B, previous: { tag: "sha-aaaaaaa", digest: DIGEST_A } }) },
  });
  expect(forward.write).toMatchObject({ stored: true, spooled: false });
  expect((await rows(s)).map((r) => [r.deploy_id, r.status, r.rollback_from]).at(-1)).toEqual([
    "run-5:dev:dev-release-deploy",
    "success",
    null,
  ]);
});

test("Postgres unreachable: records spool; the next write and flush-spool write each exactly once", async () => {
  const s = schema("spool");
  const spool = path.join(tmp, "spool", "spool.jsonl");
  const down = new DeploymentLog({ databaseUrl: unreachableUrl(), schema: s, spoolPath: spool, connectTimeoutMs: 1000 });
  const up = logFor(s, spool);
  const records: DeploymentRecord[] = HISTORY.slice(0, 3);

  for (const r of records) {
    const out = await down.write(r);
    expect(out).toMatchObject({ stored: false, spooled: true });
    expect(out.problem).toMatch(/unreachable.*ECONNREFUSED/);
    expect(out.problem).not.toContain(DB_PASSWORD);
  }
  expect(down.readSpool().map((r) => r.deployId)).toEqual(["fixture-1", "fixture-2", "fixture-3"]);
  expect(readFileSync(spool, "utf8")).not.toContain(DB_PASSWORD);
  expect(await down.flush()).toMatchObject({ pending: 3, inserted: 0, remaining: 3 });

  // Postgres is back: the next write flushes the spool first.
  const next = await up.write(HISTORY[3] as DeploymentRecord);
  expect(next).toEqual({ stored: true, spooled: false, flushed: 3, inserted: true });
  expect(existsSync(spool)).toBe(false);
  expect((await rows(s)).map((r) => r.deploy_id)).toEqual(["fixture-1", "fixture-2", "fixture-3", "fixture-4"]);

  // Down again, one more record; flush-spool writes it; a spool replayed twice adds nothing.
  await down.write(HISTORY[4] as DeploymentRecord);
  const first = await flushCommand(up, ["--json"]);
  expect(first.ok).toBe(true);
  expect(JSON.parse(first.text)).toMatchObject({ pending: 1, inserted: 1, remaining: 0 });
  appendFileSync(
    spool,
    HISTORY.slice(0, 5)
      .map((r) => `${JSON.stringify(r)}\n`)
      .join("") + "not json\n",
  );
  expect(await up.flush()).toEqual({ pending: 5, inserted: 0, remaining: 0 });
  expect(await up.flush()).toEqual({ pending: 0, inserted: 0, remaining: 0 });
  const all = await rows(s);
  expect(all).toHaveLength(5);
  expect(new Set(all.map((r) => r.deploy_id)).size).toBe(5);
  expect(all[1]).toMatchObject({ env: "dev", tag: "sha-0000002", status: "failed", duration_ms: 120_000 });
});

test("the hook goes on when Postgres is unreachable: spooled, reported, message still sent", async () => {
  const s = schema("hookspool");
  const spool = path.join(tmp, "hookspool.jsonl");
  const reports: string[] = [];
  telegram.requests.length = 0;
  const recorder = new DeploymentRecorder({
    env: "test",
    runId: "run-down",
    log: new DeploymentLog({ databaseUrl: unreachableUrl(), schema: s, spoolPath: spool, connectTimeoutMs: 1000 }),
    notifier: new TelegramNotifier({ apiBaseUrl: telegram.url, token: TOKEN, chatId: "1" }),
    report: (m) => reports.push(m),
  });
  const out = await recorder.afterDeploy({
    name: "test-release-deploy",
    newOutputs: { stdout: releaseLine({ env: "test", tag: "v1.2.3", digest: DIGEST_A }) },
  });
  expect(out.write).toMatchObject({ stored: false, spooled: true });
  expect(out.notify?.sent).toBe(true);
  expect(reports.join("\n")).toMatch(/cannot tell a rollback.*\n.*record spooled/);
  expect((await logFor(s, spool).flush()).inserted).toBe(1);
  expect((await rows(s)).map((r) => [r.deploy_id, r.status])).toEqual([["run-down:test:test-release-deploy", "success"]]);
});

test("a result the host handed to a killed pulumi up is recorded by the next attempt as interrupted; a recorded one is not twice", async () => {
  const s = schema("unconfirmed");
  const log = logFor(s, path.join(tmp, "unconfirmed.jsonl"));
  telegram.requests.length = 0;
  const recorder = (runId: string): DeploymentRecorder =>
    new DeploymentRecorder({
      env: "dev",
      runId,
      log,
      notifier: new TelegramNotifier({ apiBaseUrl: telegram.url, token: TOKEN, chatId: "1", backoffMs: 10 }),
      report: () => undefined,
    });
  const name = "dev-release-deploy";
  // Attempt 1 is recorded by its own hook; attempt 2's pulumi up is killed after the provider read
  // its result, so no hook ran; attempt 3's result carries both as unconfirmed.
  const unconfirmed = (releaseId: string, tag: string): UnconfirmedAttempt => {
    const digest = `sha256:${tag.slice(-1).repeat(64)}`;
    return {
      ok: true,
      action: "deploy",
      tag,
      digest,
      releaseId,
      serving: { tag, digest, port: 8101 },
      reason: `interrupted: pulumi up ended before it recorded this attempt; on the host it finished: ok`,
      stoppedIn: "finished",
      logFile: `/opt/deep-calm/dev/logs/${releaseId}.log`,
      startedAt: "2026-12-02T04:00:00.000Z",
      finishedAt: "2026-12-02T04:00:05.000Z",
    };
  };
  // A log with no row of the env yet (a new database or schema): the host's recent results are
  // its history elsewhere, not failures, and stay out.
  const first = await recorder("run-1").afterDeploy({
    name,
    newOutputs: {
      stdout: releaseLine({ tag: "sha-aaaaaaa", releaseId: "R1", previous: null, unconfirmed: [unconfirmed("R0", "sha-0000000")] }),
    },
  });
  expect(first.interrupted ?? []).toEqual([]);
  const third = await recorder("run-3").afterDeploy({
    name,
    newOutputs: {
      stdout: releaseLine({
        tag: "sha-bbbbbbb",
        digest: DIGEST_B,
        releaseId: "R3",
        unconfirmed: [unconfirmed("R1", "sha-aaaaaaa"), unconfirmed("R2", "sha-bbbbbbb")],
      }),
    },
  });
  expect(third.interrupted?.map((o) => o.record?.deployId)).toEqual(["host-R2:dev:dev-release-deploy"]);
  expect((await rows(s)).map((r) => r.deploy_id)).not.toContain("host-R0:dev:dev-release-deploy");
  expect((await rows(s)).map((r) => `${r.deploy_id} ${r.tag} ${r.status}`)).toEqual([
    "host-R1:dev:dev-release-deploy sha-aaaaaaa success",
    "host-R2:dev:dev-release-deploy sha-bbbbbbb failed",
    "host-R3:dev:dev-release-deploy sha-bbbbbbb success",
  ]);
  expect(String((await rows(s))[1]?.logs)).toMatch(/^interrupted: pulumi up ended before it recorded this attempt/);
  // One message each for attempts 1, 2 (the interrupted one) and 3; none again for attempt 1.
  expect(telegram.requests).toHaveLength(3);
  // The same list handed over again (a later attempt) adds nothing and announces nothing.
  const fourth = await recorder("run-4").afterDeploy({
    name,
    newOutputs: {
      stdout: releaseLine({ tag: "sha-bbbbbbb", digest: DIGEST_B, releaseId: "R4", unconfirmed: [unconfirmed("R2", "sha-bbbbbbb")] }),
    },
  });
  expect(fourth.interrupted ?? []).toEqual([]);
  expect(await rows(s)).toHaveLength(4);
  expect(telegram.requests).toHaveLength(4);
});

test("metrics and history on a fixed history equal the hand-computed values", async () => {
  const s = schema("metrics");
  const log = logFor(s, path.join(tmp, "metrics.jsonl"));
  for (const r of HISTORY) {
    expect((await log.write(r)).stored).toBe(true);
  }
  const metrics = JSON.parse(await metricsCommand(log, ["--days", "7", "--json"], NOW)) as Record<string, unknown>[];
  expect(metrics.map((m) => m.env)).toEqual(["dev", "test", "all"]);
  expect(metrics[0]).toMatchObject(EXPECTED_7_DAYS.dev);
  expect(metrics[1]).toMatchObject(EXPECTED_7_DAYS.test);
  expect(metrics[2]).toMatchObject(EXPECTED_7_DAYS.all);
  const devOnly = JSON.parse(await metricsCommand(log, ["--env", "dev", "--days", "7", "--json"], NOW)) as Record<string, unknown>[];
  expect(devOnly).toHaveLength(1);
  expect(devOnly[0]).toMatchObject(EXPECTED_7_DAYS.dev);

  const history = await historyCommand(log, ["test"]);
  expect(history.split("\n")).toEqual([
    "when (UTC)        env   tag          status       who              duration  rollback from",
    "----------------  ----  -----------  -----------  ---------------  --------  -------------",
    "2026-01-08 12:00  test  sha-0000009  rolled_back  vasiliy          20s       sha-0000008",
    "2026-01-08 10:00  test  sha-0000008  failed       claude-code-bot  50s",
    "2026-01-06 10:00  test  sha-0000007  success      vasiliy          3m 20s",
  ]);
  const json = JSON.parse(await historyCommand(log, ["dev", "--limit", "2", "--json"])) as DeploymentRecord[];
  expect(json.map((r) => r.deployId)).toEqual(["fixture-5", "fixture-4"]);
});

describe("Telegram notifier against the stand-in", () => {
  const notifier = (extra: Partial<ConstructorParameters<typeof TelegramNotifier>[0]> = {}): TelegramNotifier =>
    new TelegramNotifier({ apiBaseUrl: telegram.url, token: TOKEN, chatId: "42", backoffMs: 20, maxBackoffMs: 100, ...extra });

  test("retries 5xx and 429 with backoff, then delivers once", async () => {
    telegram.requests.length = 0;
    telegram.answers.push(500, 429, 502);
    const started = Date.now();
    expect(await notifier().send("hello")).toEqual({ sent: true, attempts: 4 });
    expect(telegram.requests).toHaveLength(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 0 + 80);
  });

  test("gives up after the bounded attempts; a 4xx is not retried; the token never shows", async () => {
    telegram.requests.length = 0;
    telegram.answers.push(500, 500, 500);
    const exhausted = await notifier({ attempts: 3 }).send("x");
    expect(exhausted).toMatchObject({ sent: false, attempts: 3 });
    telegram.answers.push(401);
    const rejected = await notifier().send("x");
    expect(rejected).toMatchObject({ sent: false, attempts: 1 });
    expect(rejected.problem).toMatch(/HTTP 401/);
    const closed = await notifier({ apiBaseUrl: "http://127.0.0.1:5999", attempts: 2 }).send("x");
    expect(closed).toMatchObject({ sent: false, attempts: 2 });
    expect(closed.problem).toMatch(/unreachable.*ECONNREFUSED/);
    for (const out of [exhausted, rejected, closed]) {
      expect(out.problem).not.toContain(TOKEN);
      expect(out.problem).not.toContain("AAF_stand-in");
    }
  });
});
