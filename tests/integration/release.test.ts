/**
 * host/dc-release on the local target: deploys, zero-drop switch under load, bad releases,
 * failed migration, smoke failure, rollback (warm and cold). The steps build on each other.
 */
import { randomBytes } from "crypto";
import { readFileSync } from "fs";
import { TestEnv, load, local, pullEvents, sshRun } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itest", [8191, 8192], 8090, {
  user: "tester",
  password: randomBytes(12).toString("hex"),
});

async function servedVersion(): Promise<string> {
  const a = await env.get("/version");
  expect(a.status).toBe(200);
  return a.body;
}

/** PIDs of nginx's worker processes: a reload replaces them all. */
async function nginxWorkers(): Promise<string[]> {
  const master = readFileSync("/run/nginx.pid", "utf8").trim();
  const ps = await local("ps", ["-o", "pid=", "--ppid", master]);
  const pids = ps.stdout.split(/\s+/).filter((p) => p !== "");
  expect(pids.length).toBeGreaterThan(0);
  return pids.sort();
}

async function servingPort(): Promise<number> {
  const a = await env.get("/healthz");
  return Number(a.upstream.split(":")[1]);
}

beforeAll(async () => {
  await env.reset();
});

afterAll(async () => {
  await env.teardown();
});

describe("dc-release deploy", () => {
  test("first deploy starts v1 on the first port and nginx serves it (basic auth on the front)", async () => {
    const r = await env.deploy("v1");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, action: "deploy", env: "itest", tag: "v1", port: 8191, changed: true });
    expect(r.json.previous).toBeNull();
    expect(r.json.phases).toEqual(
      expect.objectContaining({ pullMs: expect.any(Number), startMs: expect.any(Number), switchMs: expect.any(Number) }),
    );
    expect(await servedVersion()).toBe("v1");
    expect((await env.get("/healthz")).upstream).toBe("127.0.0.1:8191");
    const anonymous = await (await import("./helpers")).httpGet(`${env.frontUrl}/version`);
    expect(anonymous.status).toBe(401);
    expect(await env.live()).toBe("port-8191");
    const status = await env.status();
    expect(status.json).toMatchObject({ ok: true, healthy: true, servingPort: 8191, current: { tag: "v1" } });
  });

  test("the same digest again is a no-op", async () => {
    const r = await env.deploy("v1");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, changed: false, tag: "v1", port: 8191 });
    expect(await env.containers()).toEqual(["dc-itest-8191"]);
  });

  test("v1 -> v2 under 200 rps through nginx drops nothing", async () => {
    const workers = await nginxWorkers();
    const traffic = load(`${env.frontUrl}/version`, 200, 5000, env.authHeader());
    await new Promise((r) => setTimeout(r, 1000));
    const r = await env.deploy("v2", ["--warm", "60", "--smoke", "/version"]);
    const report = await traffic;
    // The switch was the live symlink alone: no reload, so nginx runs the very same workers.
    expect(await nginxWorkers()).toEqual(workers);
    expect(await env.live()).toBe("port-8192");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tag: "v2", port: 8192, changed: true, previous: { tag: "v1" } });
    expect(report.sent).toBe(1000);
    expect(report.failures).toEqual([]);
    expect(report.versions["v1"]).toBeGreaterThan(0);
    expect(report.versions["v2"]).toBeGreaterThan(0);
    expect(await servedVersion()).toBe("v2");
    // The old release stays warm for an instant rollback.
    expect(await env.containers()).toEqual(["dc-itest-8191", "dc-itest-8192"]);
  });

  test("rollback while the old release is warm is an nginx switch: no pull, no start", async () => {
    const since = Math.floor(Date.now() / 1000);
    const r = await env.release("rollback", env.commonArgs(["--warm", "60"]));
    const until = Math.ceil(Date.now() / 1000) + 1;
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, action: "rollback", tag: "v1", port: 8191, reused: true, pulled: false });
    expect(r.json.previous).toMatchObject({ tag: "v2" });
    expect(r.json.durationMs).toBeLessThan(1000);
    expect(r.json.phases.startMs).toBeLessThan(50);
    expect(await pullEvents(since, until, "v1")).toEqual([]);
    expect(await servedVersion()).toBe("v1");
  });

  test("rollback after the warm period starts the retained image without a pull", async () => {
    // v3 with no warm period: v1 is stopped after the drain.
    const d = await env.deploy("v3", ["--warm", "0"]);
    expect(d.code).toBe(0);
    expect(d.json).toMatchObject({ tag: "v3", previous: { tag: "v1" } });
    expect(await env.containers()).toEqual([env.containerName(d.json.port!)]);
    const since = Math.floor(Date.now() / 1000);
    const r = await env.release("rollback", env.commonArgs(["--warm", "0"]));
    const until = Math.ceil(Date.now() / 1000) + 1;
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tag: "v1", reused: false, pulled: false, previous: { tag: "v3" } });
    expect(await pullEvents(since, until, "v1")).toEqual([]);
    expect(await servedVersion()).toBe("v1");
    expect(await env.containers()).toEqual([env.containerName(r.json.port!)]);
  });

  test("rollback --to a retained tag, and --to an unknown tag is refused", async () => {
    const r = await env.release("rollback", env.commonArgs(["--warm", "0", "--to", "v2"]));
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tag: "v2", pulled: false });
    expect(await servedVersion()).toBe("v2");
    const bad = await env.release("rollback", env.commonArgs(["--to", "v9"]));
    expect(bad.code).toBe(2);
    expect(bad.json.reason).toMatch(/--to 'v9'.*retained: .*v2/);
    expect(await servedVersion()).toBe("v2");
  });
});

describe("bad releases leave the old release serving", () => {
  const cases: [string, string[], RegExp][] = [
    ["bad-crash", ["--health-retries", "40"], /health check failed: container dc-itest-\d+ exited/],
    ["bad-unhealthy", ["--health-retries", "20"], /health check failed: \/healthz on 127\.0\.0\.1:\d+ gave 404 after 20 tries/],
    ["bad-slow", ["--health-retries", "20"], /health check failed: \/healthz on 127\.0\.0\.1:\d+ refused the connection after 20 tries/],
    // The demo freezes its server once it listens (answering 404 until then): probes time out.
    ["bad-hang", ["--health-retries", "4", "--health-timeout", "0.3"], /health check failed: .* timed out after 0\.3s after 4 tries/],
  ];

  test.each(cases)("%s: exit 1 with the reason, old serves, new gone, logs kept", async (tag, extra, reason) => {
    const before = await servedVersion();
    const oldPort = await servingPort();
    const r = await env.deploy(tag, extra);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tag, changed: false, rolledBack: true });
    expect(r.json.reason).toMatch(reason);
    expect(r.json.serving).toMatchObject({ tag: before, port: oldPort });
    expect(await servedVersion()).toBe(before);
    expect(await env.containers()).toEqual([env.containerName(oldPort)]);
    const log = await env.read(r.json.logFile!);
    expect(log).toContain(`--- docker logs ${env.containerName(r.json.port!)} ---`);
    expect(log).toContain(`demo ${tag}: mode`);
  });

  test("failed migration: nothing started, nothing switched", async () => {
    const before = await servedVersion();
    const live = await env.live();
    const r = await env.deploy("bad-migrate", ["--migrate", "/bin/migrate"]);
    expect(r.code).toBe(1);
    expect(r.json.reason).toMatch(/^migration failed \(exit 1\): sh -c '\/bin\/migrate' said: migration failed: demo image bad-migrate/);
    expect(r.json).toMatchObject({ rolledBack: false, changed: false });
    expect(r.json.phases.startMs).toBe(0);
    expect(await env.live()).toBe(live);
    expect(await env.containers()).toEqual([env.containerName(await servingPort())]);
    expect(await servedVersion()).toBe(before);
  });

  test("a migration that outlives --migrate-timeout is stopped: its container goes, nothing switched", async () => {
    const before = await servedVersion();
    const live = await env.live();
    const r = await env.deploy(before === "v2" ? "v1" : "v2", ["--migrate", "echo migrating; sleep 60", "--migrate-timeout", "1.5"]);
    expect(r.code).toBe(1);
    expect(r.json.reason).toBe("migration timed out after 1.5s: sh -c 'echo migrating; sleep 60' was stopped; nothing was switched");
    expect(r.json.phases.migrateMs).toBeGreaterThanOrEqual(1500);
    expect(r.json.phases.migrateMs).toBeLessThan(5000);
    expect(r.json.phases.startMs).toBe(0);
    expect(await env.read(r.json.logFile!)).toContain("migrating");
    const leftovers = await local("docker", ["ps", "-aq", "--filter", `name=^dc-${env.name}-migrate-`]);
    expect(leftovers.stdout.trim()).toBe("");
    expect(await env.live()).toBe(live);
    expect(await servedVersion()).toBe(before);
  });

  test("a good migration runs before the start", async () => {
    const r = await env.deploy("v3", ["--migrate", "/bin/migrate", "--warm", "0"]);
    expect(r.code).toBe(0);
    expect(r.json.phases.migrateMs).toBeGreaterThan(0);
    expect(await env.read(r.json.logFile!)).toContain("migrated v3");
    expect(await servedVersion()).toBe("v3");
  });

  test("a failing smoke check after the switch puts nginx back, dropping nothing", async () => {
    const before = await servedVersion();
    const oldPort = await servingPort();
    const traffic = load(`${env.frontUrl}/version`, 200, 3000, env.authHeader());
    const r = await env.deploy("v1", ["--smoke", "/version", "--smoke", "/no-such-page"]);
    const report = await traffic;
    expect(report.failures).toEqual([]);
    expect(r.code).toBe(1);
    expect(r.json.reason).toMatch(/smoke check failed: http:\/\/127\.0\.0\.1:8090\/no-such-page gave 404/);
    expect(r.json.rolledBack).toBe(true);
    expect(r.json.servingAfterMs).not.toBeNull();
    expect(await servedVersion()).toBe(before);
    expect((await env.get("/healthz")).upstream).toBe(`127.0.0.1:${oldPort}`);
    expect(await env.live()).toBe(`port-${oldPort}`);
  });

  test("every attempt is one line in deploy.log, and the netrc secret never shows", async () => {
    const lines = await env.deployLog();
    expect(lines.length).toBeGreaterThanOrEqual(12);
    expect(lines.filter((l) => l.ok === false).map((l) => l.tag)).toEqual(
      expect.arrayContaining(["bad-crash", "bad-unhealthy", "bad-slow", "bad-hang", "bad-migrate"]),
    );
    const all = await sshRun(["bash", "-c", 'cat "$1" "$2"/*', "x", env.layout.deployLog, env.layout.logsDir]);
    expect(all.stdout).not.toContain(env.auth!.password);
  });
});
