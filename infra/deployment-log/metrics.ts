import { DeploymentRecord } from "./record";

const DAY_MS = 86_400_000;

export interface MetricsWindow {
  /** End of the window (ISO or Date); default now. */
  now: Date;
  /** Window length in days (the last `days` × 24 h up to `now`). */
  days: number;
}

/** DORA-style numbers for one environment (or `all`) over one window. */
export interface DeploymentMetrics {
  env: string;
  days: number;
  from: string;
  to: string;
  deploys: number;
  success: number;
  failed: number;
  rolledBack: number;
  /** Attempts (any status) per day of the window. */
  deploysPerDay: number;
  /** failed / attempts (the seed's formula); null without attempts. */
  changeFailureRate: number | null;
  /** Mean time from the first failure of a streak to the next success or rollback; null without a recovered failure. */
  mttrMs: number | null;
  /** Median of commit time → successful deploy; null without commit times. */
  leadTimeMs: number | null;
  /** Nearest-rank percentiles of release duration over attempts that report one. */
  p50DurationMs: number | null;
  p95DurationMs: number | null;
}

export interface DailyCount {
  /** UTC date YYYY-MM-DD. */
  date: string;
  total: number;
  success: number;
  failed: number;
  rolledBack: number;
}

function at(record: DeploymentRecord): number {
  return Date.parse(record.finishedAt ?? record.deployedAt);
}

/** Records of `env` (all when undefined) that finished inside the window, oldest first. */
export function inWindow(records: readonly DeploymentRecord[], w: MetricsWindow, env?: string): DeploymentRecord[] {
  const to = w.now.getTime();
  const from = to - w.days * DAY_MS;
  return records
    .filter((r) => (env === undefined || r.env === env) && at(r) > from && at(r) <= to)
    .sort((a, b) => at(a) - at(b) || a.deployId.localeCompare(b.deployId));
}

/** Nearest-rank percentile (p in 0..100) of `values`; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) {
    return null;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((s, v) => s + v, 0) / values.length;
}

/**
 * Recovery times of one env's records (oldest first): an incident starts at the first `failed`
 * after a good state and ends at the next `success` or `rolled_back`; an open incident is not counted.
 */
export function recoveryTimes(records: readonly DeploymentRecord[]): number[] {
  const recoveries: number[] = [];
  let failingSince: number | undefined;
  for (const r of records) {
    if (r.status === "failed") {
      failingSince ??= at(r);
    } else if (failingSince !== undefined) {
      recoveries.push(at(r) - failingSince);
      failingSince = undefined;
    }
  }
  return recoveries;
}

/** Median lead time (commit → successful deploy) over successes that know their commit time. */
export function leadTime(records: readonly DeploymentRecord[]): number | null {
  const leads = records
    .filter((r) => r.status === "success" && r.committedAt)
    .map((r) => at(r) - Date.parse(r.committedAt as string))
    .filter((ms) => Number.isFinite(ms) && ms >= 0);
  return percentile(leads, 50);
}

/** The metrics of one env (or every env together as `all`) over the window. */
export function computeMetrics(records: readonly DeploymentRecord[], w: MetricsWindow, env?: string): DeploymentMetrics {
  const rows = inWindow(records, w, env);
  const count = (s: DeploymentRecord["status"]): number => rows.filter((r) => r.status === s).length;
  const durations = rows.map((r) => r.durationMs).filter((d): d is number => typeof d === "number" && d >= 0);
  // Recovery is per environment: a success in test does not end an incident in dev.
  const recoveries = [...new Set(rows.map((r) => r.env))].flatMap((e) => recoveryTimes(rows.filter((r) => r.env === e)));
  return {
    env: env ?? "all",
    days: w.days,
    from: new Date(w.now.getTime() - w.days * DAY_MS).toISOString(),
    to: w.now.toISOString(),
    deploys: rows.length,
    success: count("success"),
    failed: count("failed"),
    rolledBack: count("rolled_back"),
    deploysPerDay: w.days > 0 ? rows.length / w.days : 0,
    changeFailureRate: rows.length === 0 ? null : count("failed") / rows.length,
    mttrMs: mean(recoveries),
    leadTimeMs: leadTime(rows),
    p50DurationMs: percentile(durations, 50),
    p95DurationMs: percentile(durations, 95),
  };
}

/** One row per env present in the window (sorted), then `all`. */
export function metricsByEnv(records: readonly DeploymentRecord[], w: MetricsWindow): DeploymentMetrics[] {
  const envs = [...new Set(inWindow(records, w).map((r) => r.env))].sort();
  return [...envs.map((e) => computeMetrics(records, w, e)), computeMetrics(records, w)];
}

/** Attempts per UTC day of the window, oldest first, days without deploys included. */
export function dailyCounts(records: readonly DeploymentRecord[], w: MetricsWindow, env?: string): DailyCount[] {
  const days = Math.max(1, Math.ceil(w.days));
  const last = Date.UTC(w.now.getUTCFullYear(), w.now.getUTCMonth(), w.now.getUTCDate());
  const out: DailyCount[] = [];
  const index = new Map<string, DailyCount>();
  for (let i = days - 1; i >= 0; i--) {
    const date = new Date(last - i * DAY_MS).toISOString().slice(0, 10);
    const row = { date, total: 0, success: 0, failed: 0, rolledBack: 0 };
    out.push(row);
    index.set(date, row);
  }
  for (const r of records) {
    if (env !== undefined && r.env !== env) {
      continue;
    }
    const row = index.get(new Date(at(r)).toISOString().slice(0, 10));
    if (row === undefined || at(r) > w.now.getTime()) {
      continue;
    }
    row.total++;
    if (r.status === "success") row.success++;
    else if (r.status === "failed") row.failed++;
    else row.rolledBack++;
  }
  return out;
}
