/**
 * The bake window of host/dc-release on the local target: after the switch the new release is
 * watched while the old one is still warm, and a release that breaks then is switched away from
 * within a second of the first failed request. The steps build on each other (v1 serves between).
 */
import { loadAround } from "../../scripts/lib/load";
import { TestEnv, local } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itbake", [8385, 8386], 8384);
const RPS = 100;
const BAKE = ["--bake", "6", "--warm", "60"];

async function served(pathname = "/version"): Promise<string> {
  const a = await env.get(pathname);
  return `${a.status} ${a.body.trim()}`;
}

async function running(): Promise<string[]> {
  const r = await local("docker", ["ps", "--filter", `label=deep-calm.env=${env.name}`, "--format", "{{.Names}}"]);
  return r.stdout
    .split("\n")
    .filter((n) => n !== "")
    .sort();
}

beforeAll(async () => {
  await env.reset();
  const first = await env.deploy("v1");
  expect(first.json).toMatchObject({ ok: true, tag: "v1" });
});

afterAll(async () => {
  await env.teardown();
});

describe("dc-release bake window", () => {
  test("a release that crashes 3 s after it starts is switched away from within a second, under load", async () => {
    const { result: r, load } = await loadAround(`${env.frontUrl}/version`, RPS, () => env.deploy("bad-late-crash", BAKE));
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tag: "bad-late-crash", rolledBack: true, serving: { tag: "v1" } });
    expect(r.json.reason).toMatch(/^unhealthy \d+\.\d s after the switch: /);
    expect(r.json.bake).toMatchObject({ seconds: 6, verdict: "failed" });
    expect(r.json.bake.watchedMs).toBeGreaterThan(1000);
    expect(r.json.bake.watchedMs).toBeLessThan(6000);
    // The targets: back on the warm release within 1 s of the first failed request, so at most the
    // requests of that second fail.
    expect(load.failureWindowMs).toBeLessThanOrEqual(1000);
    expect(load.failed).toBeLessThanOrEqual(RPS);
    expect(load.failed).toBeGreaterThan(0); // it really broke while serving
    expect(await served()).toBe("200 v1");
    expect(await env.live()).toBe("port-8385");
    expect(await running()).toEqual(["dc-itbake-8385"]);
    const log = await env.read(r.json.logFile!);
    expect(log).toContain("bake: watching dc-itbake-8386");
    expect(log).toContain("undo: nginx back to the old release");
  });

  test("a release whose pages answer 500 while its health endpoint stays healthy fails on its 5xx share", async () => {
    const url = `${env.frontUrl}/cgi-bin/version`;
    const { result: r, load } = await loadAround(url, RPS, () => env.deploy("bad-late-errors", BAKE));
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, rolledBack: true, serving: { tag: "v1" }, bake: { verdict: "failed" } });
    // The old release answered every request of the minute before: 0.0% before.
    expect(r.json.reason).toMatch(/^unhealthy \d+\.\d s after the switch: 5xx \d+\.\d% of \d+ requests through nginx vs 0\.0% before/);
    expect(r.json.bake.beforeRequests).toBeGreaterThan(RPS / 2);
    expect(r.json.bake.beforeErrors).toBe(0);
    expect(r.json.bake.errors).toBeGreaterThanOrEqual(3);
    expect(load.failureWindowMs).toBeLessThanOrEqual(1000);
    expect(load.failed).toBeLessThanOrEqual(RPS);
    expect(await served("/cgi-bin/version")).toBe("200 v1");
  });

  test("a good release passes the bake: pulumi's wait includes it, and the figures are in the result", async () => {
    const { result: r, load } = await loadAround(`${env.frontUrl}/version`, RPS, () => env.deploy("v2", ["--bake", "2", "--warm", "60"]));
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tag: "v2", serving: { tag: "v2" }, bake: { seconds: 2, verdict: "passed", errors: 0 } });
    expect(r.json.bake.requests).toBeGreaterThan(RPS); // two seconds of load reached v2 and were counted
    expect(r.json.bake.watchedMs).toBeGreaterThanOrEqual(2000);
    expect(r.json.phases.bakeMs).toBeGreaterThanOrEqual(1500);
    expect(load.failed).toBe(0);
    expect(await served()).toBe("200 v2");
  });

  test("--bake 0 turns it off", async () => {
    const r = await env.deploy("v1", ["--bake", "0", "--warm", "60"]);
    expect(r.json).toMatchObject({ ok: true, tag: "v1", bake: { seconds: 0, verdict: "off", requests: 0 } });
  });

  test("a bake longer than the warm period is refused before anything runs", async () => {
    const r = await env.deploy("v2", ["--bake", "90", "--warm", "60"]);
    expect(r.code).toBe(2);
    expect(r.json.reason).toBe("invalid --bake '90': expected at most --warm (60 s): the old release must still run to go back to");
    expect(await served()).toBe("200 v1");
  });
});
