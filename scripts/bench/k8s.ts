/**
 * `npm run bench:k8s`: the same releases through `pulumi up` on both runtimes, same machine, same
 * run, same load: the `local` stack (host runtime: dc-release, docker, nginx) and the `local-k8s`
 * stack (the two-node cluster of scripts/dev/local-cluster.sh). For each: v1 -> v2 (a deploy), v2 ->
 * v1 (a rollback: `pulumi up` with the older tag), and bad-unhealthy (a release that never gets
 * ready, undone). Under a fixed rate of GETs of /version it prints, per runtime and scenario, the
 * requests sent and failed, the time from the start of `pulumi up` until the new release answered
 * (time to serve), and for the bad release the time until `pulumi up` returned with the old
 * release back in place (time to revert). Prints a table on stderr and one JSON document on stdout.
 *
 * Needs: scripts/dev/local-target.sh up, scripts/dev/local-cluster.sh up, scripts/dev/demo-images.sh,
 * scripts/dev/install-engine.sh; run as root. Traffic goes to 127.0.0.1 and the cluster's bridge only.
 */
import { httpGet, loadAround, type LoadReport } from "../lib/load";
import { pulumi, pulumiAsync } from "../lib/pulumi";

const RPS = Number(process.env.BENCH_RPS ?? 50);
const RUNTIMES = [
  { runtime: "host", stack: "local", url: "http://127.0.0.1:8080/version" },
  { runtime: "kubernetes", stack: "local-k8s", url: "http://10.213.0.11:30080/version" },
] as const;
const SCENARIOS = [
  { name: "deploy v1 -> v2", tag: "v2", serves: "v2", ok: true },
  { name: "rollback v2 -> v1", tag: "v1", serves: "v1", ok: true },
  { name: "bad release (never ready)", tag: "bad-unhealthy", serves: "v1", ok: false },
] as const;

const log = (msg: string): boolean => process.stderr.write(`[bench:k8s] ${msg}\n`);

interface Figure {
  runtime: string;
  scenario: string;
  upOk: boolean;
  sent: number;
  failed: number;
  failureWindowMs: number;
  /** From the start of pulumi up until /version first answered the new release (deploys), ms. */
  timeToServeMs: number | null;
  /** From the start of pulumi up until it returned with the old release back (a bad release), ms. */
  timeToRevertMs: number | null;
  upMs: number;
}

function setTag(stack: string, tag: string): void {
  const set = pulumi(stack, ["config", "set", "imageTag", tag], { config: true });
  if (set.status !== 0) throw new Error(`pulumi config set imageTag ${tag} -s ${stack}: ${set.stderr.trim()}`);
}

async function upTo(stack: string, tag: string): Promise<{ status: number; out: string }> {
  setTag(stack, tag);
  const run = await pulumiAsync(stack, ["up", "--yes", "--skip-preview", "--color", "never"], { config: true });
  return { status: run.status, out: run.stdout + run.stderr };
}

/** Polls `url` every 50 ms (bounded by `until`) and resolves with when it first answered `body`. */
async function firstAnswer(url: string, body: string, started: number, done: () => boolean): Promise<number | null> {
  for (let i = 0; i < 12_000 && !done(); i++) {
    const answer = await httpGet(url, {}, 1000).catch(() => undefined);
    if (answer?.status === 200 && answer.body.trim() === body) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

async function scenario(r: (typeof RUNTIMES)[number], s: (typeof SCENARIOS)[number]): Promise<Figure> {
  let finished = false;
  let upMs = 0;
  let upStatus = 1;
  let served: Promise<number | null> = Promise.resolve(null);
  const { load } = await loadAround(r.url, RPS, async () => {
    const started = Date.now();
    if (s.ok) served = firstAnswer(r.url, s.serves, started, () => finished);
    const run = await upTo(r.stack, s.tag);
    upMs = Date.now() - started;
    upStatus = run.status;
    finished = true;
    if ((run.status === 0) !== s.ok) log(`${r.stack} ${s.name}: pulumi up exited ${run.status}:\n${run.out.slice(-1500)}`);
    return run;
  });
  if (!s.ok) setTag(r.stack, s.serves);
  return figure(r.runtime, s, load, upStatus === 0, upMs, await served);
}

function figure(
  runtime: string,
  s: (typeof SCENARIOS)[number],
  load: LoadReport,
  upOk: boolean,
  upMs: number,
  served: number | null,
): Figure {
  return {
    runtime,
    scenario: s.name,
    upOk,
    sent: load.sent,
    failed: load.failed,
    failureWindowMs: load.failureWindowMs,
    timeToServeMs: s.ok ? served : null,
    timeToRevertMs: s.ok ? null : upMs,
    upMs,
  };
}

async function main(): Promise<void> {
  const figures: Figure[] = [];
  for (const r of RUNTIMES) {
    log(`${r.runtime}: bringing ${r.stack} to v1`);
    const base = await upTo(r.stack, "v1");
    if (base.status !== 0) throw new Error(`${r.stack}: pulumi up to v1 failed:\n${base.out.slice(-2000)}`);
    for (const s of SCENARIOS) {
      log(`${r.runtime}: ${s.name}`);
      figures.push(await scenario(r, s));
    }
  }
  const rows = figures.map((f) =>
    [
      f.runtime.padEnd(10),
      f.scenario.padEnd(26),
      `up ${f.upOk ? "ok    " : "failed"}`,
      `${f.failed}/${f.sent} failed`.padEnd(16),
      `serve ${f.timeToServeMs === null ? "-" : `${(f.timeToServeMs / 1000).toFixed(1)} s`}`.padEnd(12),
      `revert ${f.timeToRevertMs === null ? "-" : `${(f.timeToRevertMs / 1000).toFixed(1)} s`}`.padEnd(13),
      `pulumi up ${(f.upMs / 1000).toFixed(1)} s`,
    ].join("  "),
  );
  process.stderr.write(`\n${rows.join("\n")}\n`);
  const failed = figures.reduce((n, f) => n + f.failed, 0);
  const wrongOutcome = figures.filter((f) => f.upOk !== SCENARIOS.find((s) => s.name === f.scenario)?.ok).length;
  process.stdout.write(`${JSON.stringify({ rps: RPS, failedRequests: failed, wrongOutcomes: wrongOutcome, figures })}\n`);
  process.exitCode = failed === 0 && wrongOutcome === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
