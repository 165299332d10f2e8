/**
 * An env's lifetime on the local target: dc-release records when the env's first release served
 * (state/created, in every result line and in status) and forgets it on `remove`. Rollback looks
 * no further back: `dc-release rollback` and the search of `npm run rollback` find nothing from
 * before the env was last created. A return to an earlier release is `wentBack` on the host, so
 * it is recorded as rolled_back even when Postgres is down and the record goes through the spool.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { flushCommand } from "../../infra/deployment-log/commands";
import { DeploymentRecorder, classifyRelease } from "../../infra/deployment-log/hooks";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { type ReleaseResult } from "../../infra/release-result";
import { previousGoodFromLog } from "../../scripts/ops/rollback";
import { Ran, TestEnv, parseResult, sshRun } from "./helpers";
import { databaseUrl, dropSchema, logFor, sql, testSchema, unreachableUrl } from "./deployment-log-helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itlife", [8263, 8264], 8262);
const SCHEMA = testSchema("lifetime");
const NAME = "itlife-release-deploy";
let tmp: string;

/** A deploy as the program runs it, with its raw stdout (what the hooks read). */
async function deploy(tag: string): Promise<Ran<ReleaseResult> & { stdout: string }> {
  const run = await sshRun(env.deployArgs(tag));
  return { ...parseResult(run), stdout: run.stdout };
}

async function served(): Promise<string> {
  const answer = await env.get("/version");
  expect(answer.status).toBe(200);
  return answer.body;
}

/** What the program's hooks record for one release, into `log`. */
function recorder(runId: string, log: DeploymentLog, reports: string[] = []): DeploymentRecorder {
  return new DeploymentRecorder({ env: env.name, runId, log, report: (m) => reports.push(m), secrets: [databaseUrl()] });
}

const status = async () => (await env.status()).json;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "rollback-lifetime-"));
  await env.reset();
});

afterAll(async () => {
  await env.teardown();
  await dropSchema(SCHEMA);
  rmSync(tmp, { recursive: true, force: true });
});

let firstCreated = "";

test("the env's lifetime starts with its first release, shows in every result and status, and ends at remove", async () => {
  const log = logFor(SCHEMA, path.join(tmp, "unused.jsonl"));
  const v1 = await deploy("v1");
  expect(v1.code).toBe(0);
  firstCreated = String(v1.json.created);
  expect(Date.parse(firstCreated)).toBeGreaterThan(Date.now() - 120_000);
  expect(v1.json).toMatchObject({ ok: true, tag: "v1", wentBack: false, previous: null });
  expect((await recorder("life-1", log).afterDeploy({ name: NAME, newOutputs: { stdout: v1.stdout } })).record?.status).toBe("success");

  const v3 = await deploy("v3");
  expect(v3.json).toMatchObject({ ok: true, tag: "v3", created: firstCreated, wentBack: false, previous: { tag: "v1" } });
  expect((await recorder("life-2", log).afterDeploy({ name: NAME, newOutputs: { stdout: v3.stdout } })).record?.status).toBe("success");
  expect(await status()).toMatchObject({ created: firstCreated, current: { tag: "v3" } });

  // Two releases left results for the next one to hand over; the env's end takes them along.
  expect((await sshRun(["ls", `${env.layout.stateDir}/unconfirmed`])).stdout.trim().split("\n")).toHaveLength(2);
  const removed = await env.release("remove", ["--env", env.name]);
  expect(removed.code).toBe(0);
  expect((await sshRun(["test", "-e", `${env.layout.stateDir}/unconfirmed`])).code).toBe(1);
  expect(await status()).toMatchObject({ created: null, current: null, previous: null });
});

test("after remove and a new v1, dc-release rollback says there is nothing to go back to and changes nothing", async () => {
  const v1 = await deploy("v1");
  expect(v1.code).toBe(0);
  const created = String(v1.json.created);
  expect(Date.parse(created)).toBeGreaterThan(Date.parse(firstCreated));
  // v3 served this env before the remove; in this lifetime v1 is new: a deploy, not a return.
  expect(v1.json).toMatchObject({ wentBack: false, previous: null });
  const log = logFor(SCHEMA, path.join(tmp, "unused.jsonl"));
  expect((await recorder("life-3", log).afterDeploy({ name: NAME, newOutputs: { stdout: v1.stdout } })).record?.status).toBe("success");
  const before = { status: await status(), containers: await env.containers(), live: await env.live() };

  const back = await env.release("rollback", env.commonArgs());
  expect(back.code).toBe(1);
  expect(back.json.ok).toBe(false);
  expect(back.json.reason).toBe(`nothing to roll back to: itlife has served only v1 since it was created at ${created}; nothing changed`);
  expect(back.json.created).toBe(created);
  expect(await served()).toBe("v1");
  expect({ status: await status(), containers: await env.containers(), live: await env.live() }).toEqual({
    ...before,
    status: { ...before.status, durationMs: expect.any(Number) },
  });

  // npm run rollback's search in the deployment log: v3 is there, but from before the env's creation.
  const rows = await log.history({ env: env.name });
  expect(rows.map((r) => r.tag)).toEqual(["v1", "v3", "v1"]);
  expect(previousGoodFromLog(rows, "v1")).toBe("v3");
  expect(previousGoodFromLog(await log.history({ env: env.name, since: created }), "v1")).toBeUndefined();
});

test("a return to an earlier release made while Postgres is down is recorded as rolled_back once the log is back", async () => {
  const spool = path.join(tmp, "spool.jsonl");
  const up = logFor(SCHEMA, spool);
  const down = new DeploymentLog({ databaseUrl: unreachableUrl(), schema: SCHEMA, spoolPath: spool, connectTimeoutMs: 1000 });
  const v2 = await deploy("v2");
  expect(v2.json).toMatchObject({ ok: true, tag: "v2", wentBack: false });
  expect((await recorder("life-4", up).afterDeploy({ name: NAME, newOutputs: { stdout: v2.stdout } })).record?.status).toBe("success");

  // What `npm run rollback` runs on the host: a deploy of the older tag.
  const again = await deploy("v1");
  expect(again.json).toMatchObject({ ok: true, tag: "v1", wentBack: true, previous: { tag: "v2" } });
  expect(await served()).toBe("v1");
  const reports: string[] = [];
  const out = await recorder("life-5", down, reports).afterDeploy({ name: NAME, newOutputs: { stdout: again.stdout } });
  expect(out.write).toMatchObject({ stored: false, spooled: true });
  expect(out.record).toMatchObject({ status: "rolled_back", rollbackFrom: "v2" });
  expect(reports.join("\n")).not.toContain("cannot tell a rollback");
  // Without the host's verdict, and with the log down, the same release would pass for a deploy.
  expect(classifyRelease({ ...again.json, wentBack: undefined } as never, new Map())).toBe("success");

  const flushed = await flushCommand(up, ["--json"]);
  expect(flushed.ok).toBe(true);
  expect(JSON.parse(flushed.text)).toMatchObject({ spool, pending: 1, inserted: 1, remaining: 0 });
  const last = await sql<{ tag: string; status: string; rollback_from: string | null }>(
    `SELECT tag, status, rollback_from FROM "${SCHEMA}".deployments WHERE deploy_id = $1`,
    [`host-${again.json.releaseId}:${env.name}:${NAME}`],
  );
  expect(last).toEqual([{ tag: "v1", status: "rolled_back", rollback_from: "v2" }]);

  // The next new release goes forward again.
  const v3 = await deploy("v3");
  expect(v3.json).toMatchObject({ ok: true, tag: "v3", wentBack: false });
});
