import { existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { DeploymentLog } from "./log";
import { DeploymentMetrics, metricsByEnv } from "./metrics";
import { startMetricsServer } from "./prometheus";
import { DeploymentRecord } from "./record";
import { renderReport } from "./report";
import { formatTable } from "./table";
import { formatDuration } from "./telegram";

/** Parsed `--flag value`, `--flag=value`, `--switch` and positional arguments. */
export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[], switches: readonly string[] = ["json"]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (inline !== undefined) {
      flags.set(name, inline);
    } else if (switches.includes(name)) {
      flags.set(name, true);
    } else {
      const value = argv[i + 1];
      if (value === undefined) {
        throw new Error(`--${name} needs a value`);
      }
      flags.set(name, value);
      i++;
    }
  }
  return { positional, flags };
}

function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

function positiveInt(args: ParsedArgs, name: string, fallback: number): number {
  const raw = flag(args, name);
  if (raw === undefined) {
    return fallback;
  }
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1) {
    throw new Error(`--${name} ${JSON.stringify(raw)} is not allowed; expected a whole number of at least 1`);
  }
  return Number(raw);
}

/**
 * The log the commands read: DATABASE_URL (else `.local-target/postgres.env` of the project),
 * DEEP_CALM_DB_SCHEMA and DEEP_CALM_SPOOL from the environment.
 */
export function logFromEnvironment(environ: NodeJS.ProcessEnv = process.env, projectRoot: string = process.cwd()): DeploymentLog {
  let databaseUrl = environ.DATABASE_URL;
  const localEnv = path.join(projectRoot, ".local-target/postgres.env");
  if ((databaseUrl === undefined || databaseUrl === "") && existsSync(localEnv)) {
    databaseUrl = /^DATABASE_URL=(.*)$/m.exec(readFileSync(localEnv, "utf8"))?.[1]?.trim();
  }
  if (databaseUrl === undefined || databaseUrl === "") {
    throw new Error("DATABASE_URL is not set; export the deployment log's postgres:// URL (or start the local target)");
  }
  return new DeploymentLog({
    databaseUrl,
    ...(environ.DEEP_CALM_DB_SCHEMA ? { schema: environ.DEEP_CALM_DB_SCHEMA } : {}),
    ...(environ.DEEP_CALM_SPOOL ? { spoolPath: environ.DEEP_CALM_SPOOL } : {}),
  });
}

function when(iso: string): string {
  return iso.replace("T", " ").slice(0, 16);
}

/** The `history` table: newest first. */
export function formatHistory(records: readonly DeploymentRecord[]): string {
  return formatTable(
    ["when (UTC)", "env", "tag", "status", "who", "duration", "rollback from"],
    records.map((r) => [
      when(r.deployedAt),
      r.env,
      r.tag,
      r.status,
      r.deployedBy ?? "",
      r.durationMs === null || r.durationMs === undefined ? "" : formatDuration(r.durationMs),
      r.rollbackFrom ?? "",
    ]),
  );
}

function pct(v: number | null): string {
  return v === null ? "-" : `${(v * 100).toFixed(1)}%`;
}

function dur(ms: number | null): string {
  return ms === null ? "-" : formatDuration(ms);
}

/** The `metrics` table: one row per env, then `all`. */
export function formatMetrics(rows: readonly DeploymentMetrics[]): string {
  const days = rows[0]?.days ?? 0;
  return (
    `Window: last ${days} days\n` +
    formatTable(
      ["env", "deploys", "ok", "failed", "rolled back", "per day", "failure rate", "MTTR", "lead time", "p50", "p95"],
      rows.map((m) => [
        m.env,
        String(m.deploys),
        String(m.success),
        String(m.failed),
        String(m.rolledBack),
        m.deploysPerDay.toFixed(2),
        pct(m.changeFailureRate),
        dur(m.mttrMs),
        dur(m.leadTimeMs),
        dur(m.p50DurationMs),
        dur(m.p95DurationMs),
      ]),
    )
  );
}

const DAY_MS = 86_400_000;

/** `history <env> [--limit N] [--json]` */
export async function historyCommand(log: DeploymentLog, argv: readonly string[]): Promise<string> {
  const args = parseArgs(argv);
  const env = args.positional[0];
  if (env === undefined) {
    throw new Error("usage: history <env> [--limit N] [--json]");
  }
  const records = await log.history({ env, limit: positiveInt(args, "limit", 20) });
  if (args.flags.has("json")) {
    return JSON.stringify(records, null, 2);
  }
  return records.length === 0 ? `No deployments recorded for ${env}.` : formatHistory(records);
}

/** `metrics [--env E] [--days N] [--json]` */
export async function metricsCommand(log: DeploymentLog, argv: readonly string[], now: Date = new Date()): Promise<string> {
  const args = parseArgs(argv);
  const days = positiveInt(args, "days", 30);
  const env = flag(args, "env");
  const since = new Date(now.getTime() - days * DAY_MS).toISOString();
  const records = await log.history({ ...(env ? { env } : {}), since });
  const rows = metricsByEnv(records, { now, days }).filter((m) => env === undefined || m.env === env);
  return args.flags.has("json") ? JSON.stringify(rows, null, 2) : formatMetrics(rows);
}

/** `report [--out FILE] [--env E] [--days N]`; returns the path written. */
export async function reportCommand(log: DeploymentLog, argv: readonly string[], now: Date = new Date()): Promise<string> {
  const args = parseArgs(argv);
  const days = positiveInt(args, "days", 30);
  const env = flag(args, "env");
  const out = path.resolve(flag(args, "out") ?? "deployments-report.html");
  const since = new Date(now.getTime() - days * DAY_MS).toISOString();
  const records = await log.history({ ...(env ? { env } : {}), since });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderReport(records, { now, days, ...(env ? { env } : {}) }));
  return out;
}

/** `flush-spool [--json]`: writes spooled records; fails when some remain. */
export async function flushCommand(log: DeploymentLog, argv: readonly string[]): Promise<{ text: string; ok: boolean }> {
  const args = parseArgs(argv);
  const outcome = await log.flush();
  const ok = outcome.remaining === 0;
  const text = args.flags.has("json")
    ? JSON.stringify({ spool: log.spoolPath, ...outcome })
    : `${log.spoolPath}: ${outcome.pending} pending, ${outcome.inserted} inserted, ${outcome.pending - outcome.inserted - outcome.remaining} already present, ${outcome.remaining} remaining${outcome.problem ? ` (${outcome.problem})` : ""}`;
  return { text, ok };
}

/** `metrics-server [--port N]` (default 9464, 0 picks a free port): serves /metrics on 127.0.0.1 until killed. */
export async function metricsServerCommand(log: DeploymentLog, argv: readonly string[]): Promise<string> {
  const raw = flag(parseArgs(argv), "port") ?? "9464";
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    throw new Error(`--port ${JSON.stringify(raw)} is not allowed; expected 0..65535`);
  }
  const server = await startMetricsServer(() => log.history(), { port: Number(raw) });
  return `serving ${server.url}/metrics`;
}

/** Runs a command's main: prints its output, or the error's message and exits 1. */
export function runMain(main: () => Promise<{ text: string; ok: boolean } | string>): void {
  main()
    .then((out) => {
      const { text, ok } = typeof out === "string" ? { text: out, ok: true } : out;
      process.stdout.write(`${text}\n`);
      process.exitCode = ok ? 0 : 1;
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}
