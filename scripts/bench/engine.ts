/**
 * `npm run bench:engine`: the real engine on the local stack, measured in one run and printed as
 * JSON. Targets: a no-op `pulumi up` <= 5 s; `pulumi up` v1 -> v2 <= the release procedure alone
 * (dc-release over SSH, same switch) + 4 s; `pulumi up` of a tag change, a rollback and two bad
 * releases under load through nginx: 0 failed requests (with the longest gap between answers and
 * the time); a release that crashes after the switch: the bake switches back within 1 s of the
 * first failed request, so at most one second of requests fails. Also the engine install time with warm caches and, with --cold
 * (`npm run bench:engine -- --cold`), from empty caches.
 * Needs the local target, the demo images and the engine (npm run demo sets them all up).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shellJoin } from "../../infra/quote";
import { releaseResultFrom, type ReleaseResult } from "../../infra/release-result";
import { loadAround } from "../lib/load";
import { localSshArgs, localTarget } from "../lib/local-target";
import { PROJECT_DIR, pulumi, pulumiAsync } from "../lib/pulumi";

const ROUNDS = 3;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function timed(label: string, run: () => { status: number; stdout?: string; stderr?: string }): number {
  const start = process.hrtime.bigint();
  const result = run();
  const elapsed = seconds(start);
  if (result.status !== 0) {
    // pulumi prints its diagnostics on stdout.
    throw new Error(`${label} failed (${result.status}): ${result.stderr ?? ""}${(result.stdout ?? "").slice(-2000)}`);
  }
  return elapsed;
}

function up(tag: string): number {
  const set = pulumi("local", ["config", "set", "imageTag", tag], { config: true });
  if (set.status !== 0) {
    throw new Error(set.stderr);
  }
  return timed(`pulumi up ${tag}`, () => pulumi("local", ["up", "--yes", "--skip-preview"], { config: true }));
}

/** The local stack's `release` output: dc-release's result of its last up. */
function stackRelease(): ReleaseResult {
  return releaseResultFrom(JSON.parse(pulumi("local", ["stack", "output", "release", "--json"]).stdout));
}

/** The same switch pulumi up makes, run directly: dc-release with the stack's own arguments. */
function releaseAlone(tag: string): number {
  const release = stackRelease();
  const digests = JSON.parse(spawnSync("cat", [join(PROJECT_DIR, ".local-target/images.json")], { encoding: "utf8" }).stdout) as Record<
    string,
    string
  >;
  const digest = digests[tag];
  if (digest === undefined || release.digest === digest) {
    throw new Error(`no digest for ${tag}, or it is already serving`);
  }
  const argv = [
    "bash",
    localTarget().layout.script,
    "deploy",
    "--env",
    localTarget().layout.env,
    "--image",
    `127.0.0.1:5000/deep-calm:${tag}`,
    "--digest",
    digest,
    "--ports",
    "8101,8102",
    "--health-interval",
    "0.1",
    "--health-retries",
    "100",
    "--drain",
    "0.5",
    "--warm",
    "60",
    // The stack's own bake, so both wait it out alike.
    "--bake",
    stackBakeSeconds(),
    "--migrate",
    "/bin/migrate",
    "--front-url",
    "http://127.0.0.1:8080",
    "--smoke",
    "/healthz",
  ];
  const ssh = localSshArgs(shellJoin(argv));
  return timed(`dc-release ${tag}`, () => {
    const r = spawnSync("ssh", ssh, { encoding: "utf8" });
    return { status: r.status ?? 1, stderr: r.stderr };
  });
}

function stackBakeSeconds(): string {
  const get = pulumi("local", ["config", "get", "bakeSeconds"], { config: true });
  return get.status === 0 && get.stdout.trim() !== "" ? get.stdout.trim() : "10";
}

/** Requests a second through nginx during the deploys under load. */
const LOAD_RPS = 120;

interface UnderLoad {
  ok: boolean;
  seconds: number;
  sent: number;
  failed: number;
  longestGapMs: number;
  /** From the first failed request sent to the first good one after the last failure. */
  failureWindowMs: number;
  failures: string[];
  /** From the stack's release output after the up (a failed up leaves the previous one). */
  previousTag: string | null;
  pulled: boolean | null;
}

/** `pulumi up` of `tag` while GETs go through nginx; the load starts before and ends after it. */
async function upUnderLoad(tag: string): Promise<UnderLoad> {
  const set = pulumi("local", ["config", "set", "imageTag", tag], { config: true });
  if (set.status !== 0) {
    throw new Error(set.stderr);
  }
  const {
    result: [run, elapsed],
    load,
  } = await loadAround("http://127.0.0.1:8080/version", LOAD_RPS, async () => {
    const start = process.hrtime.bigint();
    const up = await pulumiAsync("local", ["up", "--yes", "--skip-preview"], { config: true });
    return [up, seconds(start)] as const;
  });
  const release = stackRelease();
  return {
    ok: run.status === 0,
    seconds: round(elapsed),
    sent: load.sent,
    failed: load.failed,
    longestGapMs: load.longestGapMs,
    failureWindowMs: load.failureWindowMs,
    failures: load.failures.slice(0, 5),
    previousTag: release.previous?.tag ?? null,
    pulled: release.pulled,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const round = (x: number) => Math.round(x * 1000) / 1000;

function installEngine(env: NodeJS.ProcessEnv = process.env): number {
  return timed("install-engine", () => {
    const r = spawnSync("bash", ["scripts/dev/install-engine.sh"], { cwd: PROJECT_DIR, encoding: "utf8", env });
    return { status: r.status ?? 1, stderr: r.stderr };
  });
}

/**
 * The engine built from empty caches: a fresh engine dir, Go module and build caches and Pulumi
 * home, all temporary (the real ones are left alone). Minutes on two cores, so only with --cold.
 */
function installCold(): number {
  const root = mkdtempSync(join(tmpdir(), "bench-engine-cold-"));
  try {
    const dir = (name: string) => join(root, name);
    return installEngine({
      ...process.env,
      ENGINE_FORCE_BUILD: "1",
      ENGINE_DIR: dir("engine"),
      GOMODCACHE: dir("gomod"),
      GOCACHE: dir("gocache"),
      PULUMI_HOME: dir("pulumi-home"),
    });
  } finally {
    // Go marks its module cache read-only.
    spawnSync("chmod", ["-R", "u+w", root]);
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const installColdSeconds = process.argv.includes("--cold") ? round(installCold()) : "not measured (run with --cold)";
  const installWarm = installEngine();
  up("v1");
  const noop: number[] = [];
  const upSwitch: number[] = [];
  const alone: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    noop.push(up("v1"));
    upSwitch.push(up("v2"));
    up("v1");
    // dc-release alone makes the same v1 -> v2 switch; pulumi is then told v2 so the next round starts from v1 again.
    alone.push(releaseAlone("v2"));
    up("v2");
    up("v1");
  }
  const result = {
    rounds: ROUNDS,
    noopUpSeconds: { median: round(median(noop)), all: noop.map(round), target: 5, met: median(noop) <= 5 },
    upV1toV2Seconds: { median: round(median(upSwitch)), all: upSwitch.map(round) },
    releaseAloneSeconds: { median: round(median(alone)), all: alone.map(round) },
    engineOverheadSeconds: { value: round(median(upSwitch) - median(alone)), target: 4, met: median(upSwitch) - median(alone) <= 4 },
    installWarmSeconds: round(installWarm),
    installColdSeconds,
    underLoad: await deploysUnderLoad(),
  };
  console.log(JSON.stringify(result, null, 2));
}

/** A tag change, a rollback to a retained release and two bad releases, each under load. */
async function deploysUnderLoad(): Promise<Record<string, unknown>> {
  up("v1");
  const tagChange = await upUnderLoad("v2");
  const rollback = await upUnderLoad("v1");
  const badCrash = await upUnderLoad("bad-crash");
  const badUnhealthy = await upUnderLoad("bad-unhealthy");
  up("v1");
  // Passes the gate, then crashes 3 s after it starts, while pulumi up is in the bake.
  const bakeLateCrash = await upUnderLoad("bad-late-crash");
  up("v1");
  const runs = { tagChange, rollback, badCrash, badUnhealthy };
  const failed = Object.values(runs).reduce((n, r) => n + r.failed, 0);
  return {
    rps: LOAD_RPS,
    ...runs,
    bakeLateCrash,
    failedRequests: { value: failed, target: 0, met: failed === 0 },
    bakeSwitchBackWithin1sOfFirstFailure: {
      value: bakeLateCrash.failureWindowMs,
      target: 1000,
      met: bakeLateCrash.failed > 0 && bakeLateCrash.failureWindowMs <= 1000,
    },
    bakeFailedAtMostOneSecondOfRequests: { value: bakeLateCrash.failed, target: LOAD_RPS, met: bakeLateCrash.failed <= LOAD_RPS },
    expectedOutcomes: tagChange.ok && rollback.ok && !badCrash.ok && !badUnhealthy.ok && !bakeLateCrash.ok && rollback.pulled === false,
  };
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
