#!/usr/bin/env node
// Benchmark: the seed's docker-compose switch vs host/dc-release, same host, same run, same load.
// Needs the local target (scripts/local-target.sh up) and demo images (scripts/demo-images.sh); run as root.
// Prints one JSON document on stdout; progress on stderr. Traffic goes to 127.0.0.1 only.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_REPOSITORY = "127.0.0.1:5000/deep-calm";
// The bench's own copies: other sessions rebuild the demo tags at any time, these stay put for the run.
const REPOSITORY = "127.0.0.1:5000/deep-calm-bench";
const BENCH_TAGS = ["v1", "v2", "bad-unhealthy"];
// Releases new to the host, like every real deploy: v2 with its own version (hence digest) each.
const NEW_RELEASES = ["v2", "v2b", "v2c"];
const RPS = Number(process.env.BENCH_RPS ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const LEAD_MS = 3000; // load runs this long before the first switch starts
const SETTLE_MS = 3000; // between switches of one scenario: past drain (1 s) + a short warm period (0.5 s)
const OURS = { env: "bench", ports: [8291, 8292], publicPort: 8290 };
const COMPOSE = { project: "dcbench", port: 8281, publicPort: 8280, dir: path.join(os.tmpdir(), "dc-bench-compose") };
const COMPOSE_SITE_DIR = "/opt/deep-calm/dcbench-compose/nginx"; // picked up by the global nginx include
const FLOOR_PORT = 8299;
const SSH_DIR = path.join(REPO_ROOT, ".local-target/ssh");
const MUX_PATH = path.join(os.tmpdir(), `dc-bench-ssh-${process.pid}`);

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const digests = {}; // tag -> digest of the bench's copy, filled by copyImages()

/** Runs argv; resolves with code/stdout/stderr and the wall time (never rejects on a non-zero exit). */
function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0, t0 }));
    child.stdin.on("error", () => {}); // a command that exits before reading its stdin
    child.stdin.end(input ?? "");
  });
}

const shellQuote = (t) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(t) ? t : `'${t.replace(/'/g, `'\\''`)}'`);

/** ssh to the deploy user; `pooled` reuses one master connection (as a deploy tool keeps its session). */
function sshArgs(pooled) {
  const args = [
    "-i",
    path.join(SSH_DIR, "id_ed25519"),
    "-o",
    `UserKnownHostsFile=${path.join(SSH_DIR, "known_hosts")}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-p",
    "2222",
  ];
  if (pooled) args.push("-o", "ControlMaster=auto", "-o", `ControlPath=${MUX_PATH}`, "-o", "ControlPersist=300");
  return [...args, "deploy@127.0.0.1"];
}

const ssh = (argv, { pooled = true, input } = {}) => run("ssh", [...sshArgs(pooled), argv.map(shellQuote).join(" ")], input);

function get(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
      res.on("error", (e) => resolve({ status: 0, body: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, body: e.message }));
  });
}

/** Bounded load: RPS x SECONDS requests, a fresh connection each, no retries; every answer recorded. */
async function runLoad(url) {
  const total = RPS * SECONDS;
  const results = [];
  const pending = [];
  const start = performance.now();
  for (let i = 0; i < total;) {
    const now = performance.now();
    while (i < total && start + (i * 1000) / RPS <= now) {
      const sentAt = performance.now();
      pending.push(get(url).then((a) => results.push({ sentAt, doneAt: performance.now(), ...a })));
      i++;
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return { results, start, end: performance.now() };
}

const median = (xs) => {
  const sorted = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : null;
};

/** Figures of one scenario from the load record and its switches ({body, t0, t1, out} each). */
function figures(load, switches) {
  const ok = load.results.filter((r) => r.status === 200).sort((a, b) => a.doneAt - b.doneAt);
  const failed = load.results.length - ok.length;
  let gap = 0;
  for (let i = 1; i < ok.length; i++) gap = Math.max(gap, ok[i].doneAt - ok[i - 1].doneAt);
  const failures = {};
  const failedAt = [];
  for (const r of load.results) {
    if (r.status === 200) continue;
    const key = r.status ? `HTTP ${r.status}` : r.body;
    failures[key] = (failures[key] ?? 0) + 1;
    failedAt.push(Math.round(r.sentAt - switches[0].t0));
  }
  const each = switches.map(({ body, t0, t1, out }) => {
    const firstNew = ok.find((r) => r.body === body && r.sentAt >= t0);
    return {
      to: body,
      timeToServeMs: firstNew ? Math.round(firstNew.doneAt - t0) : null,
      switchCommandMs: Math.round(t1 - t0),
      ...out,
    };
  });
  return {
    requests: load.results.length,
    failed,
    failures,
    failedSentMsAfterSwitchStart: failedAt.length ? [Math.min(...failedAt), Math.max(...failedAt)] : null,
    longestGapMs: Math.round(gap),
    timeToServeMs: median(each.map((e) => e.timeToServeMs)),
    switchCommandMs: median(each.map((e) => e.switchCommandMs)),
    loadWallMs: Math.round(load.end - load.start),
    achievedRps: Math.round(load.results.length / ((load.end - load.start) / 1000)),
    switches: each,
  };
}

/**
 * Runs `steps` one after another under load against `url`, SETTLE_MS apart. A step is
 * { body, prepare?, run }: `prepare` runs untimed, `run` is the switch to a release answering
 * `body` on /version. Times to serve are per switch; the scenario reports their median.
 */
async function scenario(name, url, steps) {
  log(`${name}: ${RPS} rps for ${SECONDS}s on ${url}`);
  const loading = runLoad(url);
  await sleep(LEAD_MS);
  const switches = [];
  for (const step of steps) {
    if (switches.length > 0) await sleep(SETTLE_MS);
    const prepared = step.prepare ? await step.prepare() : {};
    const t0 = performance.now();
    const out = await step.run();
    switches.push({ body: step.body, t0, t1: performance.now(), out: { ...prepared, ...out } });
  }
  const load = await loading;
  const f = figures(load, switches);
  const serve = f.switches.map((e) => e.timeToServeMs).join(", ");
  log(`${name}: ${f.failed}/${f.requests} failed, gap ${f.longestGapMs} ms, serving after ${serve} ms`);
  return f;
}

/** Copies the demo images (by the digests recorded now) to the bench's own repository. */
async function copyImages() {
  const source = JSON.parse(readFileSync(path.join(REPO_ROOT, ".local-target/images.json"), "utf8"));
  for (const tag of BENCH_TAGS) {
    const from = `${SOURCE_REPOSITORY}@${source[tag]}`;
    const pull = await run("docker", ["pull", "-q", from]);
    if (pull.code !== 0) throw new Error(`docker pull ${from}: ${pull.stderr}`);
    await run("docker", ["tag", from, `${REPOSITORY}:${tag}`]);
    const push = await run("docker", ["push", `${REPOSITORY}:${tag}`]);
    const m = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout);
    if (push.code !== 0 || !m) throw new Error(`docker push ${REPOSITORY}:${tag}: ${push.stderr}`);
    digests[tag] = m[1];
  }
  for (const tag of NEW_RELEASES.filter((t) => !BENCH_TAGS.includes(t))) {
    const dockerfile = `FROM ${REPOSITORY}@${digests.v2}\nENV DEMO_VERSION=${tag}\nLABEL org.opencontainers.image.version=${tag}\n`;
    const build = await run("env", ["DOCKER_BUILDKIT=0", "docker", "build", "-q", "-t", `${REPOSITORY}:${tag}`, "-"], dockerfile);
    if (build.code !== 0) throw new Error(`docker build ${tag}: ${build.stderr}`);
    const push = await run("docker", ["push", `${REPOSITORY}:${tag}`]);
    const m = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout);
    if (push.code !== 0 || !m) throw new Error(`docker push ${REPOSITORY}:${tag}: ${push.stderr}`);
    digests[tag] = m[1];
  }
}

/** Removes a demo image so the next switch has to pull it; says whether it is gone. */
async function removeImage(tag) {
  await run("docker", ["image", "rm", `${REPOSITORY}:${tag}`]);
  await run("docker", ["image", "rm", `${REPOSITORY}@${digests[tag]}`]);
  const gone = (await run("docker", ["image", "inspect", `${REPOSITORY}@${digests[tag]}`])).code !== 0;
  if (!gone) log(`${tag} is still on the host (a container uses it): the switch will not pull`);
  return gone;
}

/** Docker's own floor: pull + start + first healthy probe, by plain docker commands (polled every 5 ms). */
async function dockerFloor(tag) {
  await run("docker", ["rm", "-f", "dc-bench-floor"]);
  const imageRemoved = await removeImage(tag);
  const t0 = performance.now();
  const pull = await run("docker", ["pull", "-q", `${REPOSITORY}:${tag}`]);
  const t1 = performance.now();
  await run("docker", [
    "run",
    "-d",
    "--name",
    "dc-bench-floor",
    "--network",
    "host",
    "--init",
    "-e",
    `PORT=${FLOOR_PORT}`,
    `${REPOSITORY}@${digests[tag]}`,
  ]);
  const t2 = performance.now();
  while ((await get(`http://127.0.0.1:${FLOOR_PORT}/healthz`)).status !== 200) {
    if (performance.now() - t0 > 30000) throw new Error("floor container never became healthy");
    await sleep(5);
  }
  const t3 = performance.now();
  await run("docker", ["rm", "-f", "dc-bench-floor"]);
  if (pull.code !== 0) throw new Error(`docker pull failed: ${pull.stderr}`);
  return {
    imageRemoved,
    pullMs: Math.round(t1 - t0),
    startMs: Math.round(t2 - t1),
    firstHealthyMs: Math.round(t3 - t2),
    totalMs: Math.round(t3 - t0),
  };
}

// ---- the seed's way: docker-compose pull && up -d behind a static nginx site --------------------

async function composeSetup() {
  rmSync(COMPOSE.dir, { recursive: true, force: true });
  mkdirSync(COMPOSE.dir, { recursive: true });
  writeFileSync(
    path.join(COMPOSE.dir, "docker-compose.yml"),
    [
      'version: "2.4"',
      "services:",
      "  app:",
      `    image: ${REPOSITORY}:\${IMAGE_TAG}`,
      "    network_mode: host",
      "    init: true",
      "    restart: unless-stopped",
      "    environment:",
      `      PORT: "${COMPOSE.port}"`,
      "",
    ].join("\n"),
  );
  writeFileSync(path.join(COMPOSE.dir, ".env"), "IMAGE_TAG=v1\n");
  mkdirSync(COMPOSE_SITE_DIR, { recursive: true });
  writeFileSync(
    path.join(COMPOSE_SITE_DIR, "enabled.conf"),
    [
      `server { listen 127.0.0.1:${COMPOSE.publicPort};`,
      `  location / { proxy_pass http://127.0.0.1:${COMPOSE.port}; add_header X-Deep-Calm-Upstream $upstream_addr always; } }`,
      "",
    ].join("\n"),
  );
  const t = await run("nginx", ["-t"]);
  if (t.code !== 0) throw new Error(`nginx -t: ${t.stderr}`);
  await run("nginx", ["-s", "reload"]);
  const up = await compose(["up", "-d"]);
  if (up.code !== 0) throw new Error(`docker-compose up: ${up.stderr}`);
  await waitFor(`http://127.0.0.1:${COMPOSE.publicPort}/version`, "v1");
}

const compose = (args) =>
  run("docker-compose", [
    "-p",
    COMPOSE.project,
    "--project-directory",
    COMPOSE.dir,
    "-f",
    path.join(COMPOSE.dir, "docker-compose.yml"),
    ...args,
  ]);

async function composeTeardown() {
  await compose(["down"]);
  rmSync(path.dirname(COMPOSE_SITE_DIR), { recursive: true, force: true });
  rmSync(COMPOSE.dir, { recursive: true, force: true });
  await run("nginx", ["-s", "reload"]);
}

async function waitFor(url, body, limitMs = 30000) {
  const t0 = performance.now();
  while ((await get(url)).body !== body) {
    if (performance.now() - t0 > limitMs) throw new Error(`${url} never answered ${body}`);
    await sleep(20);
  }
}

// ---- ours: dc-release over SSH ------------------------------------------------------------------

const envDir = `/opt/deep-calm/${OURS.env}`;
const publicUrl = `http://127.0.0.1:${OURS.publicPort}`;
const common = [
  "--env",
  OURS.env,
  "--ports",
  OURS.ports.join(","),
  "--public-url",
  publicUrl,
  "--health-interval",
  "0.005",
  "--health-timeout",
  "1",
  "--drain",
  "1",
];
const PATIENT = ["--health-retries", "1000"]; // a good release: up to ~10 s to come up (5 ms apart, like the floor)
const IMPATIENT = ["--health-retries", "100"]; // the bad release: given up after ~1-2 s

async function oursSetup() {
  await run("docker", ["rm", "-f", ...OURS.ports.map((p) => `dc-${OURS.env}-${p}`)]);
  // The site the Pulumi program renders (infra/render.ts renderNginxSite), for the bench's env.
  const site = [
    "server {",
    `  listen 127.0.0.1:${OURS.publicPort};`,
    "  open_file_cache off;",
    '  set $deep_calm_port "";',
    ...OURS.ports.map((p) => `  if (-f ${envDir}/nginx/live/${p}) { set $deep_calm_port ${p}; }`),
    '  if ($deep_calm_port = "") { return 503; }',
    "  location / {",
    "    proxy_pass http://127.0.0.1:$deep_calm_port;",
    "    proxy_set_header Host $host;",
    "    add_header X-Deep-Calm-Upstream $upstream_addr always;",
    "  }",
    "}",
    "",
  ].join("\n");
  const setup = await ssh(["bash", "-c", 'set -e; rm -rf "$1"; mkdir -p "$1/nginx"; cat >"$1/nginx/site.conf"', "x", envDir], {
    input: site,
  });
  if (setup.code !== 0) throw new Error(`setup of ${envDir}: ${setup.stderr}`);
  await ssh(["bash", "-c", 'cat >"$1"', "x", `${envDir}/dc-release`], { input: readFileSync(path.join(REPO_ROOT, "host/dc-release")) });
  const first = await release(["deploy", ...imageArgs("v1"), "--warm", "0", ...PATIENT]);
  if (!first.json.ok) throw new Error(`first deploy failed: ${first.json.reason}`);
}

async function oursTeardown() {
  await run("docker", ["rm", "-f", ...OURS.ports.map((p) => `dc-${OURS.env}-${p}`)]);
  await ssh(["rm", "-rf", envDir]);
  await run("nginx", ["-s", "reload"]);
}

const imageArgs = (tag) => ["--image", `${REPOSITORY}:${tag}`, "--digest", digests[tag]];

async function release(args, pooled = true) {
  const r = await ssh(["bash", `${envDir}/dc-release`, ...args, ...common], { pooled });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  let json;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`dc-release printed no JSON: ${r.stdout} ${r.stderr}`);
  }
  return { json, ms: r.ms };
}

const pick = (j) => ({
  exitCode: j.exitCode,
  ok: j.ok,
  reason: j.reason,
  pulled: j.pulled,
  reused: j.reused,
  hostDurationMs: j.durationMs,
  hostServingAfterMs: j.servingAfterMs,
  phases: j.phases,
});

/** Rollback time with a fresh SSH connection each time, no load: command start -> previous serving. */
async function freshRollbacks(times) {
  const out = [];
  for (let i = 0; i < times; i++) {
    await sleep(1000); // nginx's old workers are gone; the answer below is the settled release
    const before = (await get(`${publicUrl}/version`)).body;
    const t0 = performance.now();
    const r = release(["rollback", "--warm", "60", ...PATIENT], false);
    let servedAt = null;
    while (servedAt === null) {
      const a = await get(`${publicUrl}/version`);
      if (a.status === 200 && a.body !== before) servedAt = performance.now();
      else if (performance.now() - t0 > 10000) break;
    }
    const done = await r;
    out.push({
      toServeMs: servedAt === null ? null : Math.round(servedAt - t0),
      commandMs: Math.round(performance.now() - t0),
      hostServingAfterMs: done.json.servingAfterMs,
      reused: done.json.reused,
    });
  }
  return out;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root (it drives docker and nginx on this machine)");
  const report = {
    host: os.hostname(),
    cpus: os.cpus().length,
    rps: RPS,
    secondsPerScenario: SECONDS,
    startedAt: new Date().toISOString(),
  };

  await copyImages();
  await oursTeardown(); // a previous run's release would keep its images in use
  await composeTeardown();
  await ssh(["true"]); // opens the pooled connection outside any measurement
  await oursSetup();
  // The floor is measured under the same load as the scenarios (against our front, v1 serving).
  log(`docker floor for ${NEW_RELEASES.join(", ")} (pull + start + first healthy probe) under ${RPS} rps, median`);
  const floorLoad = runLoad(`${publicUrl}/version`);
  await sleep(LEAD_MS);
  const floors = [];
  for (const tag of NEW_RELEASES) floors.push({ tag, ...(await dockerFloor(tag)) });
  const floorLoadDone = await floorLoad;
  const middle = [...floors].sort((a, b) => a.totalMs - b.totalMs)[Math.floor((floors.length - 1) / 2)];
  report.dockerFloor = { median: middle, runs: floors, loadFailed: floorLoadDone.results.filter((r) => r.status !== 200).length };

  log("seed's way: docker-compose");
  await composeSetup();
  report.compose = {
    v1ToV2: await scenario("compose v1->v2", `http://127.0.0.1:${COMPOSE.publicPort}/version`, [
      {
        body: "v2",
        prepare: async () => ({ imageRemovedBefore: await removeImage("v2") }),
        run: async () => {
          writeFileSync(path.join(COMPOSE.dir, ".env"), "IMAGE_TAG=v2\n");
          const pull = await compose(["pull"]);
          const up = await compose(["up", "-d"]);
          return { exitCode: up.code ?? pull.code };
        },
      },
    ]),
  };
  await composeTeardown();

  log("ours: dc-release over SSH (one pooled SSH connection, like a deploy tool's session)");
  const url = `${publicUrl}/version`;
  const ours = {};
  const [, , newest] = NEW_RELEASES;
  // Three deploys of releases new to the host (image pulled each time), like the floor's three runs.
  // Each comes after the previous one's warm period, as deploys usually do; the last keeps its
  // predecessor warm for the rollback below.
  ours.v1ToV2 = await scenario(
    `ours v1->${NEW_RELEASES.join("->")}`,
    url,
    NEW_RELEASES.map((tag, i) => ({
      body: tag,
      prepare: async () => ({ imageRemovedBefore: await removeImage(tag) }),
      run: async () => {
        const warm = i === NEW_RELEASES.length - 1 ? "60" : "0.5";
        return pick((await release(["deploy", ...imageArgs(tag), "--warm", warm, ...PATIENT])).json);
      },
    })),
  );
  const previous = NEW_RELEASES[NEW_RELEASES.length - 2];
  ours.rollbackWarm = await scenario("ours rollback (warm)", url, [
    { body: previous, run: async () => pick((await release(["rollback", "--warm", "60", ...PATIENT])).json) },
  ]);
  // The bad release takes the free port, where the newest release was warm: that one stops.
  ours.badRelease = await scenario("ours bad release (unhealthy) rolled back", url, [
    {
      body: "bad-unhealthy",
      run: async () => pick((await release(["deploy", ...imageArgs("bad-unhealthy"), "--warm", "60", ...IMPATIENT])).json),
    },
  ]);
  // So the rollback to the newest release is a cold one: its retained image starts again.
  ours.rollbackAfterWarm = await scenario("ours rollback after the warm period", url, [
    { body: newest, run: async () => pick((await release(["rollback", "--warm", "0", ...PATIENT])).json) },
  ]);
  report.ours = ours;

  log("rollback with a fresh SSH connection per command (no pooling), while warm, 3 times");
  await release(["rollback", "--warm", "60", ...PATIENT]); // makes the previous release warm again
  report.oursFreshSshRollbackWarm = await freshRollbacks(3);

  await oursTeardown();
  const floor = report.dockerFloor.median.totalMs;
  const ratio = (ms) => (ms === null ? null : Math.round((ms / floor) * 100) / 100);
  report.ratios = {
    composeTimeToServeVsFloor: ratio(report.compose.v1ToV2.timeToServeMs),
    oursTimeToServeVsFloor: ratio(ours.v1ToV2.timeToServeMs),
  };
  // Each scenario must have done what it stands for (e.g. the demo images were not rebuilt mid-run).
  const all = (f, ok) => f.switches.every(ok);
  report.valid =
    all(ours.v1ToV2, (e) => e.ok === true && e.pulled === true && e.imageRemovedBefore === true) &&
    all(ours.rollbackWarm, (e) => e.ok === true && e.reused === true) &&
    all(ours.rollbackAfterWarm, (e) => e.ok === true && e.pulled === false) &&
    all(ours.badRelease, (e) => e.exitCode === 1) &&
    all(report.compose.v1ToV2, (e) => e.exitCode === 0);
  report.targets = {
    zeroFailedV1ToV2: ours.v1ToV2.failed === 0 && ours.v1ToV2.requests >= 10000,
    zeroFailedBadRelease: ours.badRelease.failed === 0 && ours.badRelease.requests >= 10000,
    zeroFailedRollback: ours.rollbackWarm.failed === 0 && ours.rollbackAfterWarm.failed === 0,
    timeToServeWithin1_1xFloor: report.ratios.oursTimeToServeVsFloor !== null && report.ratios.oursTimeToServeVsFloor <= 1.1,
    rollbackWarmWithin200ms: ours.rollbackWarm.timeToServeMs !== null && ours.rollbackWarm.timeToServeMs <= 200,
    rollbackColdWithin1s: ours.rollbackAfterWarm.timeToServeMs !== null && ours.rollbackAfterWarm.timeToServeMs <= 1000,
  };
  report.finishedAt = new Date().toISOString();
  await run("ssh", [...sshArgs(true).slice(0, -1), "-O", "exit", "deploy@127.0.0.1"]);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench-release: ${e.stack ?? e}\n`);
  process.exit(1);
});
