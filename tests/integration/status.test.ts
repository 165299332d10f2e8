/**
 * `npm run status` against a real env on the local target: the one SSH call the command makes
 * (`dc-release status` with the env's front) read into the report. Healthy and in sync exits 0;
 * the host serving another release than the stack deployed (a manual `dc-release rollback`) is
 * drift, exit 3; the serving container stopped is unhealthy, exit 1. A release holding the lock
 * shows as the lock's holder. The time of one host's status is measured (target: under 2 s).
 */
import { checkHost, statusArgv } from "../../scripts/lib/status-stack";
import { localTarget } from "../../scripts/lib/local-target";
import { STATUS_EXIT, type StackExpectation } from "../../scripts/lib/status-report";
import { imageDigests, local, parseResult, REPOSITORY, sleep, sshSpawn, collect, TestEnv } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("st-status", [8601, 8602], 8600);

function expecting(tag: string): StackExpectation {
  return {
    stack: "local",
    env: env.name,
    configTag: tag,
    deployed: { image: `${REPOSITORY}:${tag}`, tag, digest: imageDigests()[tag] ?? "" },
  };
}

const status = (tag: string) => checkHost(localTarget().ssh, statusArgv(env.name, env.settings()), expecting(tag));

beforeAll(async () => {
  await env.reset();
  expect((await env.deploy("v1")).code).toBe(0);
  expect((await env.deploy("v2")).code).toBe(0);
});

afterAll(async () => {
  await env.teardown();
});

test("healthy and serving what the stack deployed: exit 0, with the warm old release and the last attempt, under 2 s", async () => {
  const times: number[] = [];
  let report = await status("v2");
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    report = await status("v2");
    times.push(Date.now() - t0);
  }
  console.log(`status of one host (ssh + dc-release status): ${times.join(", ")} ms; host side ${report.hostMs} ms`);
  expect(Math.max(...times)).toBeLessThan(2000);
  expect(report).toMatchObject({ exitCode: STATUS_EXIT.ok, inSync: true, drift: [], lock: null });
  expect(report.serving).toMatchObject({ tag: "v2", digest: imageDigests().v2 });
  expect(report.health).toMatchObject({
    healthy: true,
    direct: { healthy: true, answer: "gave 200" },
    front: { healthy: true, httpStatus: 200 },
  });
  expect(report.warm).toMatchObject({ tag: "v1", digest: imageDigests().v1 });
  expect(report.retained.map((r) => r.tag)).toEqual(["v1", "v2"]);
  expect(report.lastAttempt).toMatchObject({ ok: true, action: "deploy", tag: "v2" });
});

test("a release holding the env's lock is its holder while it runs, and the lock is free after", async () => {
  const slow = sshSpawn(env.deployImageArgs(`${REPOSITORY}:bad-slow`, imageDigests()["bad-slow"] ?? "", ["--health-retries", "20"]));
  const done = collect(slow);
  let holder = null;
  for (let i = 0; i < 40 && holder === null; i++) {
    await sleep(100);
    holder = (await status("v2")).lock;
  }
  expect(holder).toMatchObject({
    action: "deploy",
    tag: "bad-slow",
    pid: expect.any(Number),
    releaseId: expect.stringContaining("bad-slow"),
  });
  expect(parseResult(await done).code).toBe(1);
  const after = await status("v2");
  expect(after.lock).toBeNull();
  expect(after.lastAttempt).toMatchObject({ ok: false, action: "deploy", tag: "bad-slow" });
  expect(after.exitCode).toBe(STATUS_EXIT.ok);
});

test("the host serving another release than the stack expects (a manual rollback): drifted, exit 3", async () => {
  const back = await env.release("rollback", env.commonArgs());
  expect(back.code).toBe(0);
  const report = await status("v2");
  expect(report.health.healthy).toBe(true);
  expect(report.exitCode).toBe(STATUS_EXIT.drifted);
  expect(report.drift.map((d) => d.kind)).toEqual(["serving"]);
  expect(report.drift[0]?.message).toMatch(/^the host serves v1 \(sha256:[0-9a-f]{12}\), the stack deployed v2/);
  // The stack that expects v1 sees it in sync.
  expect((await status("v1")).exitCode).toBe(STATUS_EXIT.ok);
});

test("the serving container stopped: unhealthy, exit 1, through nginx and directly", async () => {
  const port = Number((await env.live()).replace("port-", ""));
  expect((await local("docker", ["stop", "-t", "0", env.containerName(port)])).code).toBe(0);
  const report = await status("v1");
  expect(report.exitCode).toBe(STATUS_EXIT.unhealthy);
  expect(report.health.healthy).toBe(false);
  expect(report.health.direct).toMatchObject({ port, running: false, healthy: false, answer: "refused the connection" });
  expect(report.health.front).toMatchObject({ healthy: false });
});
