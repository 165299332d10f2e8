/**
 * Review environments end to end with the real engine on the local target (README: Review
 * environments): three review stacks (review-91/92/93, envs pr-91/92/93) run at once beside the
 * `local` stack, each serving its own image through its own nginx listen port with basic auth.
 * The host refuses a PR whose slot another env holds and one review env past reviewMaxEnvs, naming
 * them. A review env deploys under load while `local` serves (no failed request on either), and
 * destroying one leaves the others and `local` as they were: containers, directories, sites, state.
 *
 * Needs scripts/dev/local-target.sh up, scripts/dev/demo-images.sh and the engine, like
 * local-stack.test.ts. Ports 9100..9199 (reviewPorts' default) and env names pr-* are this test's.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { httpGet, loadDuring, statusAndBody, type LoadReport } from "../../scripts/lib/load";
import { localTarget } from "../../scripts/lib/local-target";
import { LOCAL_STACK, PROJECT_DIR, pulumi } from "../../scripts/lib/pulumi";
import { reviewSlot } from "../../stacks/review";
import { ReviewProject } from "./review-project";

jest.setTimeout(900_000);

const REGISTRY = "http://127.0.0.1:5000/v2/deep-calm";
const ROOT = localTarget().root;
const LOCAL_FRONT = "http://127.0.0.1:8080";
const RANGE: [number, number] = [9100, 9199];
/** Three PRs on three slots; 124 shares 91's slot (124 mod 33 = 91 mod 33 = 25). */
const PRS = [91, 92, 93] as const;
const SAME_SLOT_AS_91 = 124;
const ONE_TOO_MANY = 95;
const VERSION: Record<number, string> = { 91: "v1", 92: "v2", 93: "v3" };
/** Short bake and warm: the old release is gone soon after a deploy, so the snapshots settle. */
const FAST = { bakeSeconds: "1", warmSeconds: "1", drainSeconds: "0.5", deploymentLogSchema: "e2e_review_envs" };
/** The deployment log's database: the local stack's (its working copy holds the URL, copied with it). */
const DATABASE_URL = /^DATABASE_URL=(.*)$/m.exec(readFileSync(join(PROJECT_DIR, ".local-target/postgres.env"), "utf8"))?.[1]?.trim() ?? "";
const LOGS_TO_DATABASE =
  existsSync(LOCAL_STACK.configFile) && readFileSync(LOCAL_STACK.configFile, "utf8").includes("deploymentLogDatabaseUrl");

async function logRows(env: string): Promise<string[]> {
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const rows = await client.query<{ env: string; tag: string; status: string }>(
      "SELECT env, tag, status FROM e2e_review_envs.deployments WHERE env = $1 ORDER BY id",
      [env],
    );
    return rows.rows.map((r) => `${r.env} ${r.tag} ${r.status}`);
  } finally {
    await client.end();
  }
}

const front = (pr: number) => `http://127.0.0.1:${reviewSlot(pr, RANGE).frontPort}`;

/** The image of `tag` under the tag pr-<n>, as the app repo's PR build would push it. */
async function tagImage(from: string, to: string): Promise<void> {
  const accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
  const got = await fetch(`${REGISTRY}/manifests/${from}`, { headers: { Accept: accept } });
  if (!got.ok) throw new Error(`registry has no ${from} (${got.status}): run scripts/dev/demo-images.sh`);
  const type = got.headers.get("content-type") ?? "application/vnd.docker.distribution.manifest.v2+json";
  const put = await fetch(`${REGISTRY}/manifests/${to}`, { method: "PUT", headers: { "Content-Type": type }, body: await got.text() });
  if (!put.ok) throw new Error(`cannot tag ${to}: ${put.status} ${await put.text()}`);
}

/** The basic auth header of a review env, from the netrc its release checks with (this test runs as root). */
function auth(pr: number): Record<string, string> {
  const netrc = readFileSync(`${ROOT}/pr-${pr}/smoke.netrc`, "utf8");
  const [, user, password] = /login (\S+) password (\S+)/.exec(netrc) ?? [];
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

async function serves(pr: number): Promise<string> {
  const answer = await httpGet(`${front(pr)}/version`, auth(pr), 5000);
  return `${answer.status} ${answer.body}`;
}

const sha = (path: string): string => (existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16) : "-");
const link = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return "-";
  }
};

/**
 * What an env is on the host, minus what traffic and time change (logs, access log, the warm
 * container that stops by itself): the serving container and when it started, the directory's
 * entries, the site and its switch, the release state.
 */
function snapshot(env: string): Record<string, string> {
  const dir = `${ROOT}/${env}`;
  const current = existsSync(`${dir}/state/current`) ? readFileSync(`${dir}/state/current`, "utf8") : "";
  const container = /^container=(.*)$/m.exec(current)?.[1] ?? "";
  const inspect = spawnSync("docker", ["inspect", "-f", "{{.Id}} {{.State.Running}} {{.State.StartedAt}}", container], {
    encoding: "utf8",
  });
  return {
    container: `${container} ${inspect.stdout.trim()}`,
    entries: readdirSync(dir)
      .filter((e) => !["logs", "deploy.log"].includes(e))
      .sort()
      .join(" "),
    site: sha(`${dir}/nginx/site.conf`),
    enabled: link(`${dir}/nginx/enabled.conf`),
    live: link(`${dir}/nginx/live`),
    current: sha(`${dir}/state/current`),
    previous: sha(`${dir}/state/previous`),
    releases: sha(`${dir}/state/releases`),
    ports: existsSync(`${dir}/state/ports`) ? readFileSync(`${dir}/state/ports`, "utf8").trim() : "-",
  };
}

/** The last result line of an env's deploy.log. */
function lastResult(env: string): Record<string, unknown> {
  const lines = readFileSync(`${ROOT}/${env}/deploy.log`, "utf8").trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "{}") as Record<string, unknown>;
}

const project = new ReviewProject();
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  if (LOGS_TO_DATABASE) {
    const client = new Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query("DROP SCHEMA IF EXISTS e2e_review_envs CASCADE");
    await client.end();
  }
  for (const pr of [...PRS, SAME_SLOT_AS_91, ONE_TOO_MANY]) await tagImage(VERSION[pr] ?? "v1", `pr-${pr}`);
  // `local` serves beside them; deployed here only when nothing serves on its front yet.
  if ((await statusAndBody(`${LOCAL_FRONT}/version`).catch(() => "")).startsWith("200 ") === false) {
    const up = pulumi("local", ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });
    expect(up.status === 0 ? "" : up.stdout + up.stderr).toBe("");
  }
});

afterAll(async () => {
  for (const pr of [...PRS, SAME_SLOT_AS_91, ONE_TOO_MANY]) {
    if (existsSync(join(project.dir, `Pulumi.review-${pr}.yaml`))) await project.destroy(pr);
  }
  project.remove();
  console.log(`review env figures: ${JSON.stringify(figures)}`);
});

test("three review envs run at once beside local, each its own image on its own listen port, behind basic auth", async () => {
  for (const pr of PRS) {
    await project.create(pr, FAST);
    const up = await project.up(pr);
    expect(up.status === 0 ? "" : up.out).toBe("");
    figures[`create pr-${pr} (first pulumi up), s`] = up.ms / 1000;
  }
  for (const pr of PRS) {
    expect(await serves(pr)).toBe(`200 ${VERSION[pr]}`);
    expect((await httpGet(`${front(pr)}/version`, {}, 5000)).status).toBe(401);
    expect((await project.output(pr, "url")).out.trim()).toBe(front(pr));
    const result = lastResult(`pr-${pr}`);
    expect([result.env, result.tag, result.ok]).toEqual([`pr-${pr}`, `pr-${pr}`, true]);
    expect(readFileSync(`${ROOT}/pr-${pr}/state/ports`, "utf8").trim()).toBe(reviewSlot(pr, RANGE).appPorts.join(","));
  }
  expect(await statusAndBody(`${LOCAL_FRONT}/version`)).toMatch(/^200 /);
  // The deployment log names the env pr-<n> (Telegram's message is built from the same record).
  if (LOGS_TO_DATABASE) {
    for (const pr of PRS) expect(await logRows(`pr-${pr}`)).toEqual([`pr-${pr} pr-${pr} success`]);
  }
});

test("a PR on a slot another env holds is refused by the host, naming that env; nothing of the holder changes", async () => {
  const before = snapshot("pr-91");
  await project.create(SAME_SLOT_AS_91, FAST);
  const up = await project.up(SAME_SLOT_AS_91);
  expect(up.status).not.toBe(0);
  const [a, b] = reviewSlot(91, RANGE).appPorts;
  expect(up.out).toContain(`ports ${a},${b}: port ${a} is held by env pr-91 (${ROOT}/pr-91, ports ${a},${b})`);
  expect(snapshot("pr-91")).toEqual(before);
  expect(await serves(91)).toBe("200 v1");
  const destroy = await project.destroy(SAME_SLOT_AS_91);
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
  expect(snapshot("pr-91")).toEqual(before);
  expect(await serves(91)).toBe("200 v1");
});

test("one review env past reviewMaxEnvs is refused, naming those the host holds", async () => {
  await project.create(ONE_TOO_MANY, { ...FAST, reviewMaxEnvs: "3" });
  const up = await project.up(ONE_TOO_MANY);
  expect(up.status).not.toBe(0);
  expect(up.out).toContain(
    `review envs: ${ROOT} holds 3 already (pr-91 pr-92 pr-93), at most --max-review-envs 3; destroy one before pr-95`,
  );
  const destroy = await project.destroy(ONE_TOO_MANY);
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
});

test("a review env deploys a new image under load while local serves: no failed request on either", async () => {
  await tagImage("v3", "pr-92");
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const rps = 60;
  const loads: Promise<LoadReport>[] = [
    loadDuring(`${LOCAL_FRONT}/version`, rps, finished, 300_000),
    loadDuring(`${front(92)}/version`, rps, finished, 300_000, auth(92)),
  ];
  await new Promise((r) => setTimeout(r, 500));
  const up = await project.up(92);
  await new Promise((r) => setTimeout(r, 500));
  done();
  const [local, review] = await Promise.all(loads);
  figures["deploy pr-92 under load, s"] = up.ms / 1000;
  figures["load on local"] = { sent: local?.sent, failed: local?.failed };
  figures["load on pr-92"] = { sent: review?.sent, failed: review?.failed, versions: review?.versions };
  expect(up.status === 0 ? "" : up.out).toBe("");
  expect([local?.failed, local?.failures.slice(0, 3)]).toEqual([0, []]);
  expect([review?.failed, review?.failures.slice(0, 3)]).toEqual([0, []]);
  expect(await serves(92)).toBe("200 v3");
});

test("destroying one review env leaves the others and local untouched", async () => {
  // Let the warm releases of the last deploy stop (warmSeconds 1) before the others are recorded.
  await new Promise((r) => setTimeout(r, 3000));
  const others = ["local", "pr-92", "pr-93"];
  const before = Object.fromEntries(others.map((env) => [env, snapshot(env)]));
  const localServes = await statusAndBody(`${LOCAL_FRONT}/version`);
  const destroy = await project.destroy(91);
  figures["destroy pr-91, s"] = destroy.ms / 1000;
  expect(destroy.status === 0 ? "" : destroy.out).toBe("");
  expect(existsSync(`${ROOT}/pr-91`)).toBe(false);
  const containers = spawnSync("docker", ["ps", "-aq", "--filter", "label=deep-calm.env=pr-91"], { encoding: "utf8" }).stdout.trim();
  expect(containers).toBe("");
  await expect(httpGet(`${front(91)}/version`, {}, 2000)).rejects.toThrow();
  expect(Object.fromEntries(others.map((env) => [env, snapshot(env)]))).toEqual(before);
  expect(await statusAndBody(`${LOCAL_FRONT}/version`)).toBe(localServes);
  expect(await serves(92)).toBe("200 v3");
  expect(await serves(93)).toBe("200 v3");
});
