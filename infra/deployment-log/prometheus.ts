import * as http from "http";
import { AddressInfo } from "net";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { metricsByEnv } from "./metrics";
import { DEPLOYMENT_STATUSES, DeploymentRecord } from "./record";

/** Bucket bounds in seconds for release durations: seconds to twenty minutes. */
export const DURATION_BUCKETS = [5, 10, 30, 60, 120, 300, 600, 1200];

/** Days the MTTR and failure-rate gauges look back over. */
export const GAUGE_WINDOW_DAYS = 30;

/**
 * A registry describing the deployment log: `deployments_total{env,status}`,
 * `deployment_duration_seconds{env,status}` (histogram), and 30-day gauges for MTTR and
 * change failure rate. Built fresh from the records on each scrape, so it always equals the table.
 */
export function deploymentRegistry(records: readonly DeploymentRecord[], now: Date = new Date()): Registry {
  const registry = new Registry();
  const total = new Counter({
    name: "deployments_total",
    help: "Deploy attempts recorded in the deployment log, by environment and outcome.",
    labelNames: ["env", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "deployment_duration_seconds",
    help: "Duration of the release procedure on the host, by environment and outcome.",
    labelNames: ["env", "status"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const mttr = new Gauge({
    name: "deployment_mttr_seconds",
    help: `Mean time from a failed deploy to the next good one over the last ${GAUGE_WINDOW_DAYS} days.`,
    labelNames: ["env"],
    registers: [registry],
  });
  const failureRate = new Gauge({
    name: "deployment_change_failure_rate",
    help: `Failed attempts / all attempts over the last ${GAUGE_WINDOW_DAYS} days.`,
    labelNames: ["env"],
    registers: [registry],
  });
  for (const env of [...new Set(records.map((r) => r.env))].sort()) {
    for (const status of DEPLOYMENT_STATUSES) {
      total.inc({ env, status }, 0);
    }
  }
  for (const r of records) {
    total.inc({ env: r.env, status: r.status });
    if (typeof r.durationMs === "number" && r.durationMs >= 0) {
      duration.observe({ env: r.env, status: r.status }, r.durationMs / 1000);
    }
  }
  for (const m of metricsByEnv(records, { now, days: GAUGE_WINDOW_DAYS })) {
    if (m.env === "all") {
      continue;
    }
    if (m.mttrMs !== null) {
      mttr.set({ env: m.env }, m.mttrMs / 1000);
    }
    if (m.changeFailureRate !== null) {
      failureRate.set({ env: m.env }, m.changeFailureRate);
    }
  }
  return registry;
}

export interface MetricsServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  /** Port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  /** Loopback address to bind; default 127.0.0.1. */
  host?: string;
  /** The clock the 30-day gauges use; default the real one. */
  now?: () => Date;
}

/**
 * Serves `/metrics` (Prometheus text format) on 127.0.0.1, loading the records on each scrape;
 * a failed load answers 503 with the reason. `/healthz` answers ok.
 */
export async function startMetricsServer(load: () => Promise<DeploymentRecord[]>, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const host = opts.host ?? "127.0.0.1";
  const now = opts.now ?? (() => new Date());
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || (path !== "/metrics" && path !== "/healthz")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    load()
      .then(async (records) => {
        const registry = deploymentRegistry(records, now());
        const body = await registry.metrics();
        res.writeHead(200, { "content-type": registry.contentType }).end(body);
      })
      .catch((err: unknown) => {
        res.writeHead(503, { "content-type": "text/plain" }).end(`deployment log unavailable: ${(err as Error).message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive; without this close() waits for them.
        server.closeAllConnections();
      }),
  };
}
