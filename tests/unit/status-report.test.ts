/** `npm run status`: a real status line and the stack's expectation → rows, drift, exit code. */
import { parseStatusReport, type StatusReport } from "../../infra/release-result";
import {
  driftOf,
  hostRows,
  hostStatus,
  lastAttemptFrom,
  overallExit,
  renderTable,
  shortDigest,
  STATUS_EXIT,
  tagOf,
  type StackExpectation,
} from "../../scripts/lib/status-report";
import { expectationFrom, parseArgs, statusArgv, statusSettings } from "../../scripts/lib/status-stack";
import { defaultReleaseSettings } from "../../infra/release-options";
import * as lines from "../fixtures/release-results";

const full = (): StatusReport => parseStatusReport(lines.STATUS_FULL);
/** What the captured env serves: v2 (v1 is its warm old release). */
const V2 = JSON.parse(lines.STATUS_FULL).current.digest as string;
const OTHER = `sha256:${"e".repeat(64)}`;

function expecting(tag: string, digest: string, configTag = tag): StackExpectation {
  return { stack: "local", env: "st-capture", configTag, deployed: { image: `127.0.0.1:5000/deep-calm:${tag}`, tag, digest } };
}

describe("the status line with --front-url", () => {
  test("is read by the one parser, every field as printed", () => {
    const status = full();
    expect(status).toEqual(JSON.parse(lines.STATUS_FULL));
    expect(status.front).toMatchObject({ healthy: true, httpStatus: 200 });
    expect(status.direct).toMatchObject({ healthy: true, running: true, digest: V2 });
    expect(status.warm).toMatchObject({ container: expect.stringMatching(/^dc-st-capture-/), tag: "v1" });
    expect(lastAttemptFrom(status.lastAttempt)).toMatchObject({ ok: true });
  });

  test("a field it does not know is still refused", () => {
    const line = JSON.stringify({ ...JSON.parse(lines.STATUS_FULL), maintenance: true });
    expect(() => parseStatusReport(line)).toThrow(/maintenance/);
  });

  test("the plain line (the observation's) has none of them and still reads", () => {
    expect(parseStatusReport(lines.STATUS)).not.toHaveProperty("front");
  });
});

describe("report of one host", () => {
  test("healthy and serving what the stack deployed: exit 0, no drift", () => {
    const h = hostStatus("deploy@127.0.0.1:2222", full(), expecting("v2", V2));
    expect(h).toMatchObject({ inSync: true, exitCode: STATUS_EXIT.ok, drift: [] });
    expect(h.health.healthy).toBe(true);
    expect(h.serving).toMatchObject({ tag: "v2", digest: V2 });
    expect(h.retained.map((r) => r.tag)).toContain("v1");
  });

  test("the host serving another release than the stack deployed: drifted, exit 3", () => {
    const h = hostStatus("h", full(), expecting("v3", OTHER));
    expect(h.exitCode).toBe(STATUS_EXIT.drifted);
    expect(h.drift).toEqual([
      { kind: "serving", message: expect.stringContaining(`the host serves v2 (${shortDigest(V2)}), the stack deployed v3`) },
    ]);
  });

  test("a config tag not deployed yet is drift too (the stack in git is not what runs)", () => {
    const drift = driftOf(full(), expecting("v2", V2, "v3"));
    expect(drift).toEqual([{ kind: "config", message: "the stack's config asks for v3, its last pulumi up deployed v2: run pulumi up" }]);
  });

  test("unhealthy through nginx, directly, or with nothing serving: exit 1, over drift", () => {
    const base = full();
    const frontDown = { ...base, front: { ...base.front!, httpStatus: 502, healthy: false } };
    expect(hostStatus("h", frontDown, expecting("v2", V2)).exitCode).toBe(STATUS_EXIT.unhealthy);
    const stopped = {
      ...base,
      healthy: false,
      direct: { ...base.direct!, running: false, healthy: false, answer: "refused the connection" },
    };
    const h = hostStatus("h", stopped, expecting("v3", OTHER));
    expect(h.exitCode).toBe(STATUS_EXIT.unhealthy);
    expect(h.inSync).toBe(false);
    expect(hostRows(h).find(([label]) => label === "health")?.[1]).toMatch(
      /^UNHEALTHY: direct 127\.0\.0\.1:\d+ refused the connection \(container not running\)/,
    );
    const removed = parseStatusReport(lines.STATUS_REMOVED);
    expect(hostStatus("h", removed, expecting("v2", V2)).drift[0]?.kind).toBe("serving");
  });

  test("a container running another digest than the state's current release is drift", () => {
    const base = full();
    const swapped = { ...base, direct: { ...base.direct!, digest: OTHER } };
    expect(driftOf(swapped, expecting("v2", V2)).map((d) => d.kind)).toEqual(["container"]);
  });

  test("a stack with no outputs expects nothing: drift", () => {
    expect(driftOf(full(), { stack: "local", env: "st-capture", configTag: "v2" })[0]?.kind).toBe("nothing-deployed");
  });

  test("the lock and the last attempt in words", () => {
    const base = full();
    const held = {
      ...base,
      lock: { pid: 4242, action: "deploy", tag: "v2", releaseId: "r", since: "2026-12-02T08:00:00.000Z" },
      lastAttempt: '{"broken":',
    };
    const rows = Object.fromEntries(hostRows(hostStatus("h", held, expecting("v2", V2))));
    expect(rows.lock).toBe("held by pid 4242: deploy v2 since 2026-12-02T08:00:00.000Z");
    expect(rows["last attempt"]).toMatch(/^unreadable deploy\.log line/);
    expect(Object.fromEntries(hostRows(hostStatus("h", full(), expecting("v2", V2)))).lock).toBe("free");
  });
});

describe("the whole command", () => {
  test("the exit code is the worst host's", () => {
    expect(overallExit([{ exitCode: 0 }, { exitCode: 3 }])).toBe(3);
    expect(overallExit([{ exitCode: 3 }, { exitCode: 1 }])).toBe(1);
    expect(overallExit([{ exitCode: 0 }])).toBe(0);
  });

  test("the table: a header, one row per item, the verdict", () => {
    const text = renderTable([hostStatus("deploy@127.0.0.1:2222", full(), expecting("v2", V2))], 0);
    const rows = text.split("\n");
    expect(rows[0]).toBe("local (env st-capture) on deploy@127.0.0.1:2222");
    expect(rows.slice(1, -1).map((r) => r.trim().split(/\s{2,}/)[0])).toEqual([
      "serving",
      "expected",
      "health",
      "retained",
      "warm",
      "lock",
      "last attempt",
      "drift",
    ]);
    expect(rows.at(-1)).toBe("healthy, in sync (exit 0)");
  });

  test("arguments: the stack, and --json", () => {
    expect(parseArgs(["local"])).toEqual({ stack: "local", json: false });
    expect(parseArgs(["test", "--json"])).toEqual({ stack: "test", json: true });
    expect(() => parseArgs([])).toThrow(/^usage: npm run status -- <stack> \[--json\]/);
    expect(() => parseArgs(["local", "--env", "x"])).toThrow(/unexpected arguments: --env x/);
    expect(() => parseArgs(["nope"])).toThrow(/stack/);
  });

  test("the host's command: every option status takes, the front and, with basic auth, the netrc", () => {
    const settings = {
      ...defaultReleaseSettings(),
      root: "/opt/deep-calm",
      frontUrl: "http://127.0.0.1:80",
      authFile: "/opt/deep-calm/test/smoke.netrc",
    };
    expect(statusArgv("test", settings)).toEqual([
      "bash",
      "/opt/deep-calm/test/dc-release",
      "status",
      "--env",
      "test",
      "--root",
      "/opt/deep-calm",
      "--ports",
      "8101,8102",
      "--health-path",
      "/healthz",
      "--health-timeout",
      "2",
      "--front-url",
      "http://127.0.0.1:80",
      "--auth-file",
      "/opt/deep-calm/test/smoke.netrc",
    ]);
    const cfg = { profile: { env: "test", basicAuth: true }, release: defaultReleaseSettings() } as Parameters<typeof statusSettings>[0];
    expect(statusSettings(cfg).authFile).toBe("/opt/deep-calm/test/smoke.netrc");
  });

  test("the expectation: the config's tag, the outputs' image and digest (the release output as fallback)", () => {
    expect(tagOf("127.0.0.1:5000/deep-calm:v1")).toBe("v1");
    expect(tagOf("127.0.0.1:5000/deep-calm")).toBe("");
    expect(expectationFrom("local", "v2", { image: "127.0.0.1:5000/deep-calm:v1", digest: V2 })).toEqual({
      stack: "local",
      env: "local",
      configTag: "v2",
      deployed: { image: "127.0.0.1:5000/deep-calm:v1", tag: "v1", digest: V2 },
    });
    const release = JSON.parse(lines.DEPLOY_FIRST);
    expect(expectationFrom("local", "v1", { release }).deployed).toMatchObject({ tag: "v1", digest: release.digest });
    expect(expectationFrom("local", "v1", {})).not.toHaveProperty("deployed");
  });
});
