/**
 * The drain after a switch: the old release finishes the requests it has in flight and stops as
 * soon as none is left (dc-release counts its connections with ss), at most --drain seconds after
 * the switch. The demo app's /cgi-bin/slow?S answers after S seconds: a request still in flight.
 */
import { TestEnv, sleep } from "./helpers";

jest.setTimeout(60_000);

const env = new TestEnv("itdrain", [8461, 8462], 8460);
/** The port of the release serving now: the one the next deploy drains. */
let servingPort = 0;

/** The drain's progress line in the release's log. */
async function drainLine(logFile: string | null): Promise<string> {
  const line = (await env.read(logFile ?? "")).split("\n").find((l) => l.includes("] drain: "));
  expect(line).toBeDefined();
  return line ?? "";
}

/** How long an idle drain waited, from its line. */
function waitedMs(line: string): number {
  const m = / idle after (\d+) ms /.exec(line);
  expect(m).not.toBeNull();
  return Number(m?.[1]);
}

/** The status of a GET through nginx that answers after `seconds`; 0 when its connection broke. */
function slowStatus(seconds: number): Promise<number> {
  return env.get(`/cgi-bin/slow?${seconds}`).then(
    (a) => a.status,
    () => 0,
  );
}

beforeAll(async () => {
  await env.reset();
  const first = await env.deploy("v1", ["--warm", "0"]);
  expect(first.code).toBe(0);
  servingPort = first.json.port ?? 0;
});

afterAll(async () => {
  await env.teardown();
});

describe("the drain after a switch", () => {
  test("a request in flight through nginx at the switch completes on the old release; the drain ends with it", async () => {
    const slow = env.get("/cgi-bin/slow?1.5");
    await sleep(200); // nginx has handed it to the serving release
    const r = await env.deploy("v2", ["--warm", "0", "--drain", "10"]);
    expect(r.code).toBe(0);
    expect(await slow).toMatchObject({ status: 200, body: "v1", upstream: `127.0.0.1:${servingPort}` });
    const line = await drainLine(r.json.logFile);
    expect(line).toContain(`drain: 127.0.0.1:${servingPort} idle after`);
    expect(line).toContain("(1 in flight when it began)");
    // It waited for the request, and not for --drain.
    expect(waitedMs(line)).toBeGreaterThan(500);
    expect(waitedMs(line)).toBeLessThan(5000);
    expect(r.json.durationMs).toBeLessThan(8000);
    expect(await env.containers()).toEqual([env.containerName(r.json.port ?? 0)]);
    servingPort = r.json.port ?? 0;
  });

  test("with nothing in flight the drain ends at once, far inside --drain", async () => {
    const r = await env.deploy("v1", ["--warm", "0", "--drain", "10"]);
    expect(r.code).toBe(0);
    const line = await drainLine(r.json.logFile);
    expect(line).toContain(`drain: 127.0.0.1:${servingPort} idle after`);
    expect(line).toContain("(0 in flight when it began)");
    expect(waitedMs(line)).toBeLessThan(1000);
    expect(r.json.durationMs).toBeLessThan(5000);
    servingPort = r.json.port ?? 0;
  });

  test("a request that outlives --drain is cut when the old release stops: the bound holds", async () => {
    const slow = slowStatus(5);
    await sleep(200);
    const r = await env.deploy("v2", ["--warm", "0", "--drain", "0.5"]);
    expect(r.code).toBe(0);
    const line = await drainLine(r.json.logFile);
    expect(line).toContain(`drain: 127.0.0.1:${servingPort} still had 1 in flight after --drain 0.5s; they are cut`);
    expect(r.json.durationMs).toBeLessThan(4000);
    expect(await slow).not.toBe(200);
  });
});
