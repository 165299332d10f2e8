/**
 * End to end with the real engine: `pulumi up` of the local stack against the local target
 * (scripts/dev/local-target.sh up, scripts/dev/demo-images.sh and scripts/dev/install-engine.sh must have run;
 * npm test does all three).
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Client } from "pg";
import { join } from "node:path";
import { loadAround, statusAndBody, type LoadReport } from "../../scripts/lib/load";
import { localSshArgs, localTarget } from "../../scripts/lib/local-target";
import { PROJECT_DIR, pulumi, pulumiAsync } from "../../scripts/lib/pulumi";
import { shellJoin } from "../../infra/quote";
import { removeArgv } from "../../infra/release";
import { parseDeployLog, releaseResultFrom, type ReleaseResult } from "../../infra/release-result";
import { pullEvents } from "../integration/helpers";

jest.setTimeout(300_000);

const FRONT = "http://127.0.0.1:8080";
const SSH = localSshArgs();
/** The local stack's env on the host (this machine). */
const LAYOUT = localTarget().layout;
const DEPLOY_LOG = LAYOUT.deployLog;

function deployLogLines(): number {
  try {
    return readFileSync(DEPLOY_LOG, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "").length;
  } catch {
    return 0;
  }
}

/** What nginx serves now, on a fresh connection (a kept-alive one may be closed by a reload). */
const serving = (): Promise<string> => statusAndBody(`${FRONT}/version`);

function setTag(tag: string): void {
  const set = pulumi("local", ["config", "set", "imageTag", tag], { config: true });
  expect(set.stderr).toBe("");
}

function configTag(): string {
  return pulumi("local", ["config", "get", "imageTag"], { config: true }).stdout.trim();
}

function up(): { status: number; out: string } {
  const run = pulumi("local", ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });
  return { status: run.status, out: run.stdout + run.stderr };
}

/** Requests a second through nginx while a deploy runs: more than the guard's 100. */
const RPS = 120;

interface UnderLoad {
  status: number;
  out: string;
  load: LoadReport;
  /** Unix seconds around the run, for docker's event log. */
  since: number;
  until: number;
}

/** Runs `work` while GETs go through nginx at RPS; the traffic starts before and ends after it. */
async function underLoad(work: () => Promise<{ status: number; out: string }>): Promise<UnderLoad> {
  const since = Math.floor(Date.now() / 1000);
  const { result, load } = await loadAround(`${FRONT}/version`, RPS, work);
  return { ...result, load, since, until: Math.ceil(Date.now() / 1000) + 1 };
}

function upUnderLoad(): Promise<UnderLoad> {
  return underLoad(async () => {
    const run = await pulumiAsync("local", ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });
    return { status: run.status, out: run.stdout + run.stderr };
  });
}

/** No request failed, and the load was the guard's: at least 100 a second. */
function expectNoneFailed(run: UnderLoad): void {
  expect(run.load.failures.slice(0, 5)).toEqual([]);
  expect(run.load.failed).toBe(0);
  expect(run.load.sent).toBeGreaterThanOrEqual(100);
}

/** The stack's `release` output, checked against dc-release's format. */
function releaseOutput(): ReleaseResult {
  return releaseResultFrom(JSON.parse(pulumi("local", ["stack", "output", "release", "--json"]).stdout));
}

/** The stack's `release` output, {} when the stack has none (never deployed, or destroyed). */
function currentRelease(): { tag?: string; previous?: { tag?: string } | null } {
  const run = pulumi("local", ["stack", "output", "release", "--json"]);
  try {
    return run.status === 0 ? ((JSON.parse(run.stdout) as { tag?: string } | null) ?? {}) : {};
  } catch {
    return {};
  }
}

/**
 * A test's setup: `tags` are the env's last releases, in this order, the last one serving and
 * configured. What an earlier test left is kept when it is exactly that; else they are deployed.
 * So each test runs alone (`-t`) or in any order, and the suite in order deploys nothing twice.
 */
async function ensureReleases(...tags: string[]): Promise<void> {
  const last = tags[tags.length - 1] as string;
  const before = tags.length > 1 ? tags[tags.length - 2] : undefined;
  const now = currentRelease();
  const served = await serving().catch(() => "");
  if (now.tag === last && (before === undefined || now.previous?.tag === before) && served === `200 ${last}`) {
    if (configTag() !== last) setTag(last);
    return;
  }
  for (const tag of tags) {
    setTag(tag);
    const run = up();
    expect(run.status === 0 ? "" : run.out).toBe("");
  }
  expect(await serving()).toBe(`200 ${last}`);
}

/** The resources a preview would change, by name, from `pulumi preview --json`. */
function previewChanges(): string[] {
  const run = pulumi("local", ["preview", "--json"], { config: true });
  expect(run.status).toBe(0);
  const steps = (JSON.parse(run.stdout) as { steps?: { op: string; urn: string }[] }).steps ?? [];
  return steps
    .filter((s) => s.op !== "same")
    .map((s) => `${s.op} ${s.urn.split("::").pop()}`)
    .sort();
}

const LOG_SCHEMA = "e2e_local_stack";
const DATABASE_URL = /^DATABASE_URL=(.*)$/m.exec(readFileSync(join(PROJECT_DIR, ".local-target/postgres.env"), "utf8"))?.[1]?.trim() ?? "";

interface LogRow {
  id: number;
  tag: string;
  status: string;
  logs: string | null;
}

/** The local env's rows in the deployment log, oldest first; those after row `afterId` only when given. */
async function logRows(afterId = 0): Promise<LogRow[]> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    // The hooks create the table with the first record.
    const table = await client.query("SELECT to_regclass($1) AS t", [`${LOG_SCHEMA}.deployments`]);
    if (table.rows[0]?.t === null) return [];
    const sql = `SELECT id, tag, status, logs FROM ${LOG_SCHEMA}.deployments WHERE env = 'local' AND id > $1 ORDER BY id`;
    return (await client.query(sql, [afterId])).rows;
  } finally {
    await client.end();
  }
}

/** The newest row's id (0 for none): what a test's own ups record comes after it. */
const lastRowId = async (): Promise<number> => (await logRows()).pop()?.id ?? 0;

const described = (rows: LogRow[]): string[] => rows.map((r) => `${r.tag} ${r.status}`);

beforeAll(async () => {
  // A clean slate: whatever an earlier run or the demo left is destroyed through pulumi itself.
  pulumi("local", ["cancel", "--yes"]);
  const destroy = pulumi("local", ["destroy", "--yes", "--skip-preview"], { config: true });
  expect(destroy.status).toBe(0);
  // What another checkout left on this host (`npm run demo` keeps its env, in a state this clone
  // cannot destroy) goes too: the env's releases, site and history, so no earlier release counts.
  const leftover = spawnSync(
    "ssh",
    [...SSH, `${shellJoin(removeArgv(LAYOUT.env, { root: LAYOUT.root }))} && ${shellJoin(["rm", "-rf", LAYOUT.dir])}`],
    { encoding: "utf8" },
  );
  expect(leftover.status === 0 ? "" : leftover.stderr).toBe("");
  // Deploys are recorded in a schema of the local Postgres that this suite owns.
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${LOG_SCHEMA} CASCADE`);
  await client.query(`CREATE SCHEMA ${LOG_SCHEMA}`);
  await client.end();
  const setUrl = spawnSync(
    "bash",
    [
      "-c",
      'source scripts/dev/pulumi-local.sh && pulumi config set -s local --config-file "$LOCAL_CONFIG" --secret deploymentLogDatabaseUrl',
    ],
    {
      cwd: PROJECT_DIR,
      input: DATABASE_URL,
      encoding: "utf8",
    },
  );
  expect(setUrl.status).toBe(0);
  expect(pulumi("local", ["config", "set", "deploymentLogSchema", LOG_SCHEMA], { config: true }).status).toBe(0);
});

test("v1 up: the release serves through nginx", async () => {
  setTag("v1");
  const run = up();
  expect(run.out).toContain("Resources:");
  expect(run.status).toBe(0);
  expect(releaseOutput()).toMatchObject({ ok: true, action: "deploy", env: "local", tag: "v1" });
  expect(await serving()).toBe("200 v1");
});

test("imageTag v2: preview shows an update of the release (never a replace), up deploys it under load with none failed", async () => {
  await ensureReleases("v1");
  const since = await lastRowId();
  setTag("v2");
  expect(previewChanges().sort()).toEqual(["update local-observed", "update local-release-deploy"]);
  const run = await upUnderLoad();
  expect(run.status).toBe(0);
  expectNoneFailed(run);
  expect(run.out).not.toMatch(/replace/);
  expect(releaseOutput()).toMatchObject({ ok: true, tag: "v2", previous: { tag: "v1" } });
  expect(run.load.versions["v2"]).toBeGreaterThan(0);
  expect(await serving()).toBe("200 v2");
  expect(described(await logRows(since))).toEqual(["v2 success"]);
});

test("a no-op up changes nothing and runs nothing on the host", async () => {
  await ensureReleases("v2");
  const before = deployLogLines();
  expect(before).toBeGreaterThan(0);
  expect(previewChanges()).toEqual([]);
  const run = up();
  expect(run.status).toBe(0);
  expect(run.out).not.toMatch(/[~+-]\s*\d+ (to )?(update|create|delete|replace)/);
  expect(deployLogLines()).toBe(before);
});

test.each([
  ["bad-unhealthy", /health/i],
  ["bad-crash", /exited|crash|health/i],
])("a bad release (%s) fails pulumi up with the reason under load, none failed; the old release keeps serving", async (tag, reason) => {
  await ensureReleases("v2");
  const since = await lastRowId();
  setTag(tag);
  const bad = await upUnderLoad();
  expect(bad.status).not.toBe(0);
  expect(bad.out).toMatch(reason);
  expectNoneFailed(bad);
  expect(Object.keys(bad.load.versions)).toEqual(["v2"]);
  expect(await serving()).toBe("200 v2");
  const rows = await logRows(since);
  expect(described(rows)).toEqual([`${tag} failed`]);
  expect(rows[0]?.logs ?? "").toMatch(reason);
});

test("a release that crashes after the switch (bad-late-crash) fails in the bake: back on v2 within a second of the first failed request", async () => {
  await ensureReleases("v2");
  const since = await lastRowId();
  setTag("bad-late-crash");
  const bad = await upUnderLoad();
  expect(bad.status).not.toBe(0);
  expect(bad.out).toMatch(/unhealthy \d+\.\d s after the switch: /);
  // It served, then broke: some requests failed, for at most a second, and no more than arrive in it.
  expect(bad.load.failed).toBeGreaterThan(0);
  expect(bad.load.failureWindowMs).toBeLessThanOrEqual(1000);
  expect(bad.load.failed).toBeLessThanOrEqual(RPS);
  expect(bad.load.versions["bad-late-crash"]).toBeGreaterThan(0);
  expect(await serving()).toBe("200 v2");
  const last = parseDeployLog(readFileSync(DEPLOY_LOG, "utf8")).pop();
  expect(last).toMatchObject({ ok: false, tag: "bad-late-crash", rolledBack: true, bake: { verdict: "failed" } });
  const rows = await logRows(since);
  expect(described(rows)).toEqual(["bad-late-crash failed"]);
  expect(rows[0]?.logs ?? "").toMatch(/unhealthy \d+\.\d s after the switch/);
});

test("v3 after a failed release deploys under load with v2, the serving one, as its previous; plain pulumi up records it", async () => {
  await ensureReleases("v2");
  if ((await logRows()).pop()?.status !== "failed") {
    // The failed attempt this test follows, unless the one before it just made one.
    setTag("bad-crash");
    expect(up().status).not.toBe(0);
  }
  expect((await logRows()).pop()).toMatchObject({ status: "failed" });
  const since = await lastRowId();
  setTag("v3");
  const good = await upUnderLoad();
  expect(good.status).toBe(0);
  expectNoneFailed(good);
  expect(releaseOutput()).toMatchObject({ ok: true, tag: "v3", previous: { tag: "v2" } });
  expect(await serving()).toBe("200 v3");
  expect(described(await logRows(since))).toEqual(["v3 success"]);
});

test("the rollback command returns to the previous good release through pulumi up, under load: none failed, nothing pulled", async () => {
  await ensureReleases("v2", "v3");
  const since = await lastRowId();
  const run = await underLoad(
    () =>
      new Promise((resolve) => {
        const child = spawn("npx", ["tsx", "scripts/ops/rollback.ts", "local"], { cwd: PROJECT_DIR, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("close", (code) => resolve({ status: code ?? 1, out }));
      }),
  );
  expect(run.out).toContain("previous good release: from the deployment log");
  expect(run.out).toContain("rolling local back: v3 -> v2");
  expect(run.status).toBe(0);
  expectNoneFailed(run);
  expect(releaseOutput()).toMatchObject({ ok: true, tag: "v2", previous: { tag: "v3" }, pulled: false });
  expect(await pullEvents(run.since, run.until, "v2")).toEqual([]);
  expect(await serving()).toBe("200 v2");
  expect(configTag()).toBe("v2");
  expect(described(await logRows(since))).toEqual(["v2 rolled_back"]);
});

test("refresh after a hand change on the host reports drift", async () => {
  // v2 serves, v3 before it: the host's own rollback goes to v3.
  await ensureReleases("v3", "v2");
  // Someone rolls the host back by hand, behind the stack's back.
  const hand = spawnSync("ssh", [...SSH, shellJoin(["bash", LAYOUT.script, "rollback", "--env", LAYOUT.env])], { encoding: "utf8" });
  expect(hand.status).toBe(0);
  expect(await serving()).toBe("200 v3");
  const refresh = pulumi("local", ["refresh", "--yes", "--skip-preview", "--diff", "--color", "never"], { config: true });
  expect(refresh.status).toBe(0);
  const out = refresh.stdout + refresh.stderr;
  expect(out).toMatch(/~ 1 updated/);
  expect(out).toMatch(/~ inSync\s*: true => false/);
  expect(out).toMatch(/~ expectedDigest\s*: "sha256:[0-9a-f]{64}" => "sha256:[0-9a-f]{64}"/);
  // The drift stays visible until the host serves what the stack says again.
  expect(previewChanges()).toEqual(["update local-observed"]);
  const back = spawnSync("ssh", [...SSH, shellJoin(["bash", LAYOUT.script, "rollback", "--env", LAYOUT.env])], { encoding: "utf8" });
  expect(back.status).toBe(0);
  expect(await serving()).toBe("200 v2");
  expect(up().status).toBe(0);
  expect(previewChanges()).toEqual([]);
});

test("stack history lists each update and refresh, with its result", async () => {
  await ensureReleases("v2");
  const made: string[] = [];
  const record = (kind: string, status: number): void => void made.push(`${kind} ${status === 0 ? "succeeded" : "failed"}`);
  record("update", up().status);
  // A tag the registry lacks: the program refuses it, the update fails and nothing changes.
  setTag("sha-deadbee");
  const refused = up();
  expect(refused.out).toContain('imageTag: "sha-deadbee"');
  record("update", refused.status);
  setTag("v2");
  record("update", up().status);
  record("refresh", pulumi("local", ["refresh", "--yes", "--skip-preview", "--color", "never"], { config: true }).status);
  expect(made).toEqual(["update succeeded", "update failed", "update succeeded", "refresh succeeded"]);
  const history = JSON.parse(pulumi("local", ["stack", "history", "--output", "json", "--page-size", "50"]).stdout) as {
    kind: string;
    result: string;
  }[];
  // Newest first.
  expect(history.slice(0, made.length).map((h) => `${h.kind} ${h.result}`)).toEqual([...made].reverse());
  expect(await serving()).toBe("200 v2");
});

test("a changed nginx site on a serving env is tested and reloaded (the deploy user's sudo rule allows it)", async () => {
  await ensureReleases("v2");
  const workers = (): string =>
    spawnSync("ps", ["-o", "pid=", "--ppid", readFileSync("/run/nginx.pid", "utf8").trim()], { encoding: "utf8" }).stdout;
  const before = workers();
  expect(pulumi("local", ["config", "set", "serverName", "localhost"], { config: true }).status).toBe(0);
  try {
    const run = up();
    expect(run.out).not.toMatch(/password is required/);
    expect(run.status).toBe(0);
    expect(readFileSync(LAYOUT.site, "utf8")).toContain("  server_name localhost;");
    expect(workers()).not.toBe(before); // reloaded
    expect(await serving()).toBe("200 v2");
  } finally {
    expect(pulumi("local", ["config", "rm", "serverName"], { config: true }).status).toBe(0);
  }
  expect(up().status).toBe(0);
  expect(readFileSync(LAYOUT.site, "utf8")).toContain("  server_name _;");
  expect(await serving()).toBe("200 v2");
});

test("pinning the host's ecdsa key updates every host command in place and each reaches the host; an ssh-rsa pin is refused at preview", async () => {
  await ensureReleases("v2");
  const pub = (type: string) =>
    readFileSync(join(PROJECT_DIR, `.local-target/ssh/ssh_host_${type}_key.pub`), "utf8")
      .split(" ")
      .slice(0, 2)
      .join(" ");
  expect(pulumi("local", ["config", "set", "sshHostKey", pub("ecdsa")], { config: true }).status).toBe(0);
  try {
    const changes = previewChanges();
    expect(changes).toContain("update local-release-deploy");
    expect(changes.filter((c) => !c.startsWith("update "))).toEqual([]);
    const run = up();
    expect(run.status).toBe(0);
    expect(await serving()).toBe("200 v2");
    expect(pulumi("local", ["config", "set", "sshHostKey", pub("rsa")], { config: true }).status).toBe(0);
    const refused = pulumi("local", ["preview", "--color", "never"], { config: true });
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain("pin the server's ed25519 or ecdsa key instead");
  } finally {
    expect(pulumi("local", ["config", "rm", "sshHostKey"], { config: true }).status).toBe(0);
  }
  expect(up().status).toBe(0);
  expect(await serving()).toBe("200 v2");
});

test("destroy removes everything the stack created on the host", async () => {
  await ensureReleases("v2");
  const containers = (): string =>
    spawnSync("docker", ["ps", "-a", "--filter", "label=deep-calm.env=local", "--format", "{{.Names}}"], {
      encoding: "utf8",
    }).stdout.trim();
  expect(containers()).not.toBe("");
  expect(readFileSync(LAYOUT.enabledSite, "utf8")).not.toBe("");
  const run = pulumi("local", ["destroy", "--yes", "--skip-preview"], { config: true });
  expect(run.status).toBe(0);
  expect(containers()).toBe("");
  expect(() => readFileSync(LAYOUT.enabledSite)).toThrow();
  await expect(serving()).rejects.toThrow();
});

test("after the destroy: v1 up, then the rollback command finds nothing to go back to (the good releases before it do not count), exits non-zero and changes nothing", async () => {
  // Good releases of other tags in the log, then a destroy: what an earlier test may have left.
  if (!(await logRows()).some((r) => r.tag !== "v1" && r.status !== "failed")) await ensureReleases("v2");
  if (currentRelease().tag !== undefined) {
    expect(pulumi("local", ["destroy", "--yes", "--skip-preview"], { config: true }).status).toBe(0);
  }
  expect((await logRows()).filter((r) => r.tag !== "v1" && r.status !== "failed")).not.toEqual([]);
  setTag("v1");
  expect(up().status).toBe(0);
  expect(await serving()).toBe("200 v1");
  const rowsBefore = (await logRows()).length;
  const run = spawnSync("npx", ["tsx", "scripts/ops/rollback.ts", "local"], { cwd: PROJECT_DIR, encoding: "utf8" });
  expect(run.stdout + run.stderr).toContain("nothing to roll back to:");
  expect(run.status).toBe(1);
  expect(configTag()).toBe("v1");
  expect(await serving()).toBe("200 v1");
  expect(await logRows()).toHaveLength(rowsBefore);
  expect(pulumi("local", ["destroy", "--yes", "--skip-preview"], { config: true }).status).toBe(0);
});
