/**
 * The deployment log seen from outside: a real Prometheus (Debian's, started here on loopback)
 * scrapes /metrics, and headless Chromium renders the HTML report to test-output/report.png.
 * Needs `bash scripts/dev/observability-deps.sh`.
 */
import { ChildProcess, spawn } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";
import { reportCommand } from "../../infra/deployment-log/commands";
import { MetricsServer, startMetricsServer } from "../../infra/deployment-log/prometheus";
import { HISTORY, NOW } from "../fixtures/deployment-history";
import { REPO_ROOT, dropSchema, logFor, testSchema } from "./deployment-log-helpers";

jest.setTimeout(180_000);

const OUTPUT_DIR = path.join(REPO_ROOT, "test-output");
const SCHEMA = testSchema("observe");
let tmp: string;

/** A free loopback port (bound then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process with output captured; stopped by its own PID in `stop`. */
function start(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out.slice(-4000) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `probe` every 500 ms until it returns a value, at most `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, detail: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} within ${timeoutMs} ms failed (${last}); output:\n${detail()}`);
}

interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(base: string, query: string): Promise<PromSeries[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data?: { result: PromSeries[] } };
  if (body.status !== "success") {
    throw new Error(`query ${query}: ${JSON.stringify(body)}`);
  }
  return body.data?.result ?? [];
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "observability-"));
  const log = logFor(SCHEMA, path.join(tmp, "spool.jsonl"));
  for (const r of HISTORY) {
    expect((await log.write(r)).stored).toBe(true);
  }
  mkdirSync(OUTPUT_DIR, { recursive: true });
});

afterAll(async () => {
  await dropSchema(SCHEMA);
  rmSync(tmp, { recursive: true, force: true });
});

test("a real Prometheus scrapes /metrics and the deployment series appear", async () => {
  const log = logFor(SCHEMA, path.join(tmp, "spool.jsonl"));
  let metrics: MetricsServer | undefined;
  let prometheus: ReturnType<typeof start> | undefined;
  try {
    metrics = await startMetricsServer(() => log.history(), { now: () => NOW });
    const direct = await (await fetch(`${metrics.url}/metrics`)).text();
    expect(direct).toContain('deployments_total{env="dev",status="failed"} 2');

    const port = await freePort();
    const dir = path.join(tmp, "prometheus");
    mkdirSync(path.join(dir, "data"), { recursive: true });
    const target = new URL(metrics.url).host;
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: deep-calm-deployments",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "",
      ].join("\n"),
    );
    prometheus = start("/usr/bin/prometheus", [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    const base = `http://127.0.0.1:${port}`;
    const p = prometheus;
    const series = await waitFor(
      "deployments_total scraped",
      90_000,
      async () => {
        const result = await promQuery(base, "deployments_total");
        return result.length >= 6 ? result : undefined;
      },
      () => p.output(),
    );
    const value = (env: string, status: string): string | undefined =>
      series.find((s) => s.metric.env === env && s.metric.status === status)?.value[1];
    expect(series.every((s) => s.metric.job === "deep-calm-deployments")).toBe(true);
    expect([value("dev", "success"), value("dev", "failed"), value("dev", "rolled_back")]).toEqual(["3", "2", "1"]);
    expect([value("test", "success"), value("test", "failed"), value("test", "rolled_back")]).toEqual(["1", "1", "1"]);

    const count = await promQuery(base, 'sum(deployment_duration_seconds_count{env="dev"})');
    expect(count[0]?.value[1]).toBe("6");
    const p95 = await promQuery(base, 'histogram_quantile(0.95, sum by (le) (deployment_duration_seconds_bucket{env="test"}))');
    expect(Number(p95[0]?.value[1])).toBeGreaterThan(120);
    expect(Number(p95[0]?.value[1])).toBeLessThanOrEqual(300);
    const failureRate = await promQuery(base, 'sum(deployments_total{status="failed"}) / sum(deployments_total)');
    expect(Number(failureRate[0]?.value[1])).toBeCloseTo(3 / 9, 6);
    const mttr = await promQuery(base, "deployment_mttr_seconds");
    expect(mttr.map((s) => [s.metric.env, s.value[1]]).sort()).toEqual([
      ["dev", "3600"],
      ["test", "7200"],
    ]);

    // Every query of the Grafana dashboard is valid PromQL over these series and answers for each
    // env (or outcome) it groups by; those that need no rate over time give the log's own numbers.
    const exact: Record<string, Record<string, number>> = {
      "Deploys by outcome": { success: 4, failed: 3, rolled_back: 2 },
      "Change failure rate": { dev: 2 / 6, test: 1 / 3 },
      "Change failure rate (30 days)": { dev: 2 / 6, test: 1 / 3 },
      "MTTR (30 days)": { dev: 3600, test: 7200 },
    };
    const dashboard = JSON.parse(readFileSync(path.join(REPO_ROOT, "dashboards/deep-calm.json"), "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((panel) =>
      panel.targets.map((t) => ({ title: panel.title, expr: t.expr.replace(/\$env/g, ".*") })),
    );
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    for (const { title, expr } of exprs) {
      const answered = await waitFor(
        `dashboard panel "${title}" (${expr})`,
        30_000,
        async () => {
          const r = await promQuery(base, expr);
          return r.length > 0 ? r : undefined;
        },
        () => "",
      );
      const by = /\bsum by \(status\)/.test(expr) ? "status" : "env";
      const answers = Object.fromEntries(answered.map((a) => [a.metric[by], Number(a.value[1])]));
      expect([title, Object.keys(answers).sort()]).toEqual([
        title,
        by === "status" ? ["failed", "rolled_back", "success"] : ["dev", "test"],
      ]);
      for (const [key, want] of Object.entries(exact[title] ?? {})) {
        expect([title, key, answers[key]]).toEqual([title, key, expect.closeTo(want, 6)]);
      }
    }
    expect(Object.keys(exact).filter((title) => !exprs.some((e) => e.title === title))).toEqual([]);
  } finally {
    if (prometheus) {
      await stop(prometheus.child);
    }
    await metrics?.close();
  }
});

test("the HTML report renders in headless Chromium to test-output/report.png", async () => {
  const log = logFor(SCHEMA, path.join(tmp, "spool.jsonl"));
  const html = await reportCommand(log, ["--out", path.join(OUTPUT_DIR, "report.html"), "--days", "7"], NOW);
  const text = readFileSync(html, "utf8");
  expect(text).toContain("<svg");
  expect(text).not.toMatch(/<(script|link|img|iframe)\b|(src|href)=["']https?:/i);

  const png = path.join(OUTPUT_DIR, "report.png");
  rmSync(png, { force: true });
  const profile = path.join(tmp, "chromium-profile");
  const chromium = start("/usr/bin/chromium", [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    `--screenshot=${png}`,
    "--window-size=1200,800",
    `file://${html}`,
  ]);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((resolve) => chromium.child.once("exit", (c) => resolve(c))),
    new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), 120_000))),
  ]);
  clearTimeout(timer);
  if (code === "timeout") {
    await stop(chromium.child);
  }
  expect({ code, output: code === 0 ? "" : chromium.output() }).toEqual({ code: 0, output: "" });
  const bytes = readFileSync(png);
  expect(bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
  // IHDR: width and height as rendered.
  expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1200, 800]);
  expect(statSync(png).size).toBeGreaterThan(20_000);
});
