/**
 * Maintenance mode through `pulumi up` with the real engine (scripts/dev/install-engine.sh):
 * tests/fixtures/maintenance-program declares the program's own site, release (with its recording
 * hooks) and `<env>-maintenance` command (with its toggle hooks), for an env of its own (mt-e2e:
 * ports 8781/8782, front 8780) on the local target, as a project of its own in a temp dir. Under
 * load through nginx: maintenance on, a deploy of v2 while on (it deploys, its checks through
 * nginx pass, the mode stays on), maintenance off. Each toggle is one maintenance_events row and
 * one Telegram message; the metrics count the two deploys and no toggle.
 */
import http from "node:http";
import { join } from "node:path";
import { DeploymentLog } from "../../infra/deployment-log/log";
import { computeMetrics } from "../../infra/deployment-log/metrics";
import { TelegramStandIn, databaseUrl, dropSchema, startTelegramStandIn, testSchema } from "../integration/deployment-log-helpers";
import { TestEnv, imageDigests, sleep } from "../integration/helpers";
import { FixtureProject, Run } from "./fixture-project";

jest.setTimeout(600_000);

const ENV = "mt-e2e";
const FRONT = `http://127.0.0.1:8780`;
const TOKEN = "6012345678:AAE_maintenance-token-must-stay-hidden-01";
const SCHEMA = testSchema("maint");
const RPS = 50;
const MESSAGE = "Upgrading <db> & back at 10:00";
const env = new TestEnv(ENV, [8781, 8782], 8780);
let project: FixtureProject;
let telegram: TelegramStandIn;

async function configure(values: Record<string, string>, secrets: Record<string, string> = {}): Promise<void> {
  const run = await project.configure(values, secrets);
  expect(run.status === 0 ? "" : run.out).toBe("");
}

interface Tally {
  release: Record<string, number>;
  maintenance: number;
  failed: string[];
}

/** `pulumi up` while RPS GETs of /version a second go through nginx (bounded; 127.0.0.1 only). */
async function upUnderLoad(runId: string): Promise<{ run: Run; tally: Tally }> {
  const tally: Tally = { release: {}, maintenance: 0, failed: [] };
  const pending: Promise<void>[] = [];
  let done = false;
  const start = Date.now();
  const sender = (async () => {
    for (let i = 0; i < 30_000 && !done; i++) {
      const wait = start + (i * 1000) / RPS - Date.now();
      if (wait > 0) await sleep(wait);
      pending.push(
        new Promise<void>((resolve) => {
          const req = http.get(`${FRONT}/version`, { agent: false, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => {
              if (res.statusCode === 200) tally.release[body.trim()] = (tally.release[body.trim()] ?? 0) + 1;
              else if (res.statusCode === 503 && res.headers["retry-after"] === "120" && body.includes("<h1>Maintenance</h1>"))
                tally.maintenance++;
              else tally.failed.push(`HTTP ${res.statusCode}`);
              resolve();
            });
          });
          req.on("timeout", () => req.destroy(new Error("timeout")));
          req.on("error", (e) => {
            tally.failed.push(e.message);
            resolve();
          });
        }),
      );
    }
  })();
  await sleep(500);
  const run = await project.run(["up", "--yes", "--skip-preview", "--color", "never"], {
    env: { DEEP_CALM_DEPLOY_ID: runId, GITHUB_ACTOR: "claude-code-bot" },
  });
  await sleep(500);
  done = true;
  await sender;
  await Promise.all(pending);
  return { run, tally };
}

const log = () => new DeploymentLog({ databaseUrl: databaseUrl(), schema: SCHEMA, spoolPath: join(project.dir, "spool.jsonl") });
const messages = (from: number) => telegram.requests.slice(from).map((r) => r.body.text ?? "");

beforeAll(async () => {
  await env.teardown();
  project = new FixtureProject("maintenance-program", "maint", "maintenance-e2e-only");
  telegram = await startTelegramStandIn();
  const init = await project.run(["stack", "init"]);
  expect(init.status === 0 ? "" : init.out).toBe("");
  await configure(
    {
      schema: SCHEMA,
      spoolPath: join(project.dir, "spool.jsonl"),
      telegramApiUrl: telegram.url,
      tag: "v1",
      digest: imageDigests().v1 as string,
      maintenance: "false",
    },
    { telegramBotToken: TOKEN, databaseUrl: databaseUrl() },
  );
  const first = await project.run(["up", "--yes", "--skip-preview", "--color", "never"], {
    env: { DEEP_CALM_DEPLOY_ID: `mt-${process.pid}-0` },
  });
  expect(first.status === 0 ? "" : first.out).toBe("");
});

afterAll(async () => {
  const destroy = await project.destroy();
  await env.teardown();
  await telegram.close();
  await dropSchema(SCHEMA);
  project.remove();
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
});

test("on, a deploy while on, off: under load nothing fails; the deploy deploys and keeps the page; each toggle is one row and one message, and no deploy", async () => {
  const pid = process.pid;
  // No toggle yet: the first up left the mode off, and recorded nothing for it.
  expect(await log().maintenanceHistory(ENV)).toEqual([]);
  const sentBefore = telegram.requests.length;

  await configure({ maintenance: "true", maintenanceMessage: MESSAGE });
  const on = await upUnderLoad(`mt-${pid}-on`);
  console.log(`maintenance on by pulumi up under ${RPS} rps: ${JSON.stringify({ ...on.tally, failed: on.tally.failed.length })}`);
  expect(on.run.status === 0 ? "" : on.run.out).toBe("");
  expect(on.tally.failed).toEqual([]);
  expect(on.tally.maintenance).toBeGreaterThan(0);
  expect(on.run.out).toMatch(/~ +[^\n]*mt-e2e-maintenance/);
  expect(on.run.out).not.toMatch(/mt-e2e-release-deploy/);

  await configure({ tag: "v2", digest: imageDigests().v2 as string });
  const deploy = await upUnderLoad(`mt-${pid}-v2`);
  console.log(`deploy v2 during maintenance under ${RPS} rps: ${JSON.stringify({ ...deploy.tally, failed: deploy.tally.failed.length })}`);
  expect(deploy.run.status === 0 ? "" : deploy.run.out).toBe("");
  expect(deploy.tally.failed).toEqual([]);
  expect(deploy.tally.release).toEqual({});
  const result = JSON.parse((await project.run(["stack", "output", "result", "--json"])).stdout) as {
    tag: string;
    port: number;
    bake: { verdict: string; errors: number };
  };
  expect(result).toMatchObject({ tag: "v2", bake: { verdict: "passed", errors: 0 } });
  expect(await env.live()).toBe(`port-${result.port}`);
  expect((await env.read(`${env.layout.stateDir}/maintenance`)).trim()).toBe("on");

  await configure({ maintenance: "false" });
  const off = await upUnderLoad(`mt-${pid}-off`);
  console.log(`maintenance off by pulumi up under ${RPS} rps: ${JSON.stringify({ ...off.tally, failed: off.tally.failed.length })}`);
  expect(off.run.status === 0 ? "" : off.run.out).toBe("");
  expect(off.tally.failed).toEqual([]);
  expect(off.tally.release.v2).toBeGreaterThan(0);
  expect(off.tally.release.v1).toBeUndefined();

  const events = await log().maintenanceHistory(ENV);
  expect(events.map((e) => [e.eventId, e.state, e.message, e.toggledBy])).toEqual([
    [`mt-${pid}-off:${ENV}:maintenance-off`, "off", null, "claude-code-bot"],
    [`mt-${pid}-on:${ENV}:maintenance-on`, "on", MESSAGE, "claude-code-bot"],
  ]);
  const texts = messages(sentBefore);
  expect(texts).toEqual([
    `🚧 Mt-e2e: maintenance on\nMessage: Upgrading &lt;db&gt; &amp; back at 10:00\nBy: claude-code-bot\nURL: ${FRONT}`,
    expect.stringMatching(/^🚀 Deploy to Mt-e2e: success\n/),
    `✅ Mt-e2e: maintenance off\nBy: claude-code-bot\nURL: ${FRONT}`,
  ]);
  for (const text of [...texts, on.run.out, deploy.run.out, off.run.out]) expect(text).not.toContain(TOKEN);

  // DORA: the two deploys (v1, v2), no toggle.
  const rows = await log().history({ env: ENV });
  expect(rows.map((r) => [r.tag, r.status])).toEqual([
    ["v2", "success"],
    ["v1", "success"],
  ]);
  expect(computeMetrics(rows, { now: new Date(), days: 1 }, ENV)).toMatchObject({ deploys: 2, success: 2, failed: 0 });
});
