/**
 * An interrupted release leaves a trace: its SSH client killed mid-deploy (the release runs on
 * and its result reaches nobody), or dc-release itself SIGKILLed (only its state/attempt marker
 * is left). Each time the deploy.log line and the log file say where it stopped and what serves,
 * and the next release reports it in its result line's `interrupted` list.
 */
import { ChildProcess } from "child_process";
import { type DeployLogLine } from "../../infra/release-result";
import { TestEnv, collect, local, sleep, sshSpawn } from "./helpers";

jest.setTimeout(120_000);

const env = new TestEnv("itestk", [8171, 8172], 8071);
/** bad-slow answers only after 120 s: the health gate is where these releases are cut. */
const SLOW = ["--warm", "0", "--bake", "0", "--health-interval", "0.1"];

/** Resolves once the release's progress (stderr) shows `text`, bounded. */
function progressShows(child: ChildProcess, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms`)), timeoutMs);
    child.stderr!.on("data", (d: Buffer) => {
      if (d.toString().includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Polls deploy.log (at most `timeoutMs`) until it has more than `count` lines. */
async function deployLogAfter(count: number, timeoutMs = 30_000): Promise<DeployLogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await env.deployLog();
    if (lines.length > count || Date.now() > deadline) return lines;
    await sleep(250);
  }
}

async function servedVersion(): Promise<string> {
  return (await env.get("/version")).body;
}

beforeAll(async () => {
  await env.reset();
  expect((await env.deploy("v1", ["--warm", "0", "--bake", "0"])).code).toBe(0);
});

afterAll(async () => {
  await env.teardown();
});

test("SSH client killed mid-deploy: the release ends on the host, its deploy.log line says so, the next release reports it", async () => {
  const before = (await env.deployLog()).length;
  // 60 probes 0.1 s apart: the gate gives up about 6 s in, long after the client is gone.
  const child = sshSpawn(env.deployArgs("bad-slow", [...SLOW, "--health-retries", "60"]));
  const cut = collect(child);
  await progressShows(child, "start:");
  child.kill("SIGKILL");
  expect((await cut).stdout).toBe(""); // cut before its end: no result reached the client

  const lines = await deployLogAfter(before);
  expect(lines).toHaveLength(before + 1);
  const cutRun = lines[before]!;
  expect(cutRun).toMatchObject({ ok: false, tag: "bad-slow", delivered: false, serving: { tag: "v1" } });
  expect(cutRun.reason).toMatch(/^health check failed/);
  expect(await env.read(cutRun.logFile!)).toMatch(/result not delivered \(the caller is gone\): the next release reports/);
  expect(await servedVersion()).toBe("v1");

  const next = await env.deploy("v2", ["--warm", "0", "--bake", "0"]);
  expect(next.code).toBe(0);
  const reported = next.json.interrupted;
  expect(reported).toHaveLength(1);
  expect(reported[0]).toMatchObject({ releaseId: cutRun.releaseId, tag: "bad-slow", stoppedIn: "health", serving: { tag: "v1" } });
  expect(reported[0]?.reason).toMatch(
    /^interrupted: the caller went away \(pulumi up or its SSH session\) during health; it ended: failed: health check failed/,
  );
  // Reported once: the release after that has nothing to report.
  const again = await env.deploy("v2", ["--warm", "0", "--bake", "0"]);
  expect(again.json.interrupted).toEqual([]);
});

test("dc-release SIGKILLed mid-deploy: the next release writes its deploy.log line and log note, and reports it", async () => {
  expect(await servedVersion()).toBe("v2");
  const before = (await env.deployLog()).length;
  const child = sshSpawn(env.deployArgs("bad-slow", [...SLOW, "--health-retries", "1000"]));
  const cut = collect(child);
  await progressShows(child, "start:");
  await sleep(300);
  // The marker names the release that holds the lock and the phase it is in.
  const marker = await env.read(`${env.layout.stateDir}/attempt`);
  expect(marker).toMatch(/^phase=healthMs$/m);
  const pid = /^pid=(\d+)$/m.exec(marker)?.[1];
  const releaseId = /^releaseId=(.+)$/m.exec(marker)?.[1];
  expect(pid).toMatch(/^\d+$/);
  // The test runs as root on the host: the same kill an OOM killer or `kill -9` would make.
  expect((await local("kill", ["-KILL", pid as string])).code).toBe(0);
  await cut;
  expect(await env.deployLog()).toHaveLength(before); // killed: no exit, no line of its own

  const next = await env.deploy("v1", ["--warm", "0", "--bake", "0"]);
  expect(next.code).toBe(0);
  expect(next.json).toMatchObject({ ok: true, tag: "v1", serving: { tag: "v1" } });
  const reported = next.json.interrupted;
  expect(reported).toHaveLength(1);
  const expected = {
    releaseId,
    tag: "bad-slow",
    stoppedIn: "health",
    serving: { tag: "v2" },
    foundBy: next.json.releaseId,
  };
  expect(reported[0]).toMatchObject(expected);
  expect(reported[0]?.reason).toBe(
    `interrupted: dc-release (pid ${pid}) stopped during health without finishing (killed, or the host went down); serving now: v2 on port ${reported[0]?.serving?.port}`,
  );

  // deploy.log: the killed release's line (written by the next one), then the next one's own.
  const lines = await env.deployLog();
  expect(lines).toHaveLength(before + 2);
  expect(lines[before]).toMatchObject({ ok: false, ...expected, reason: reported[0]?.reason });
  expect(lines[before + 1]).toMatchObject({ releaseId: next.json.releaseId, ok: true });
  expect(await env.read(reported[0]?.logFile as string)).toContain(`${reported[0]?.reason} (found by ${next.json.releaseId}`);
  expect(await env.read(next.json.logFile!)).toContain(`found an interrupted release: ${releaseId} stopped during health`);
  // Its leftover container was removed by the next release; only the serving one runs.
  expect(await env.containers()).toEqual([env.containerName(next.json.port!)]);
  expect(await servedVersion()).toBe("v1");
});

test("SIGTERM mid-deploy after the SSH client is gone (a host shutdown, an operator's kill): undone, and the line is written", async () => {
  const served = await servedVersion();
  const before = (await env.deployLog()).length;
  const child = sshSpawn(env.deployArgs("bad-slow", [...SLOW, "--health-retries", "1000"]));
  const cut = collect(child);
  await progressShows(child, "start:");
  child.kill("SIGKILL");
  await cut;
  await sleep(300);
  const pid = /^pid=(\d+)$/m.exec(await env.read(`${env.layout.stateDir}/attempt`))?.[1];
  expect(pid).toMatch(/^\d+$/);
  // The signal lands while dc-release waits between probes (bash's read -t): the case that used to crash bash.
  expect((await local("kill", ["-TERM", pid as string])).code).toBe(0);

  const lines = await deployLogAfter(before);
  expect(lines).toHaveLength(before + 1);
  expect(lines[before]).toMatchObject({
    ok: false,
    tag: "bad-slow",
    delivered: false,
    rolledBack: true,
    reason: "interrupted by a signal (TERM) during health; the old release keeps serving",
    serving: { tag: served },
  });
  expect(await servedVersion()).toBe(served);
  const next = await env.deploy(served, ["--warm", "0", "--bake", "0"]);
  expect(next.json.interrupted.map((i) => [i.releaseId, i.stoppedIn])).toEqual([[lines[before]?.releaseId, "health"]]);
});
