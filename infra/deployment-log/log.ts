import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, existsSync, writeFileSync } from "fs";
import * as path from "path";
import { Client, ClientConfig } from "pg";
import type { MaintenanceEvent } from "./maintenance";
import { migrate } from "./migrate";
import { DeploymentRecord, DeploymentStatus, StoredDeployment, isDeploymentRecord } from "./record";
import { redact } from "./redact";

/** The project directory: a relative spool path means the same file from any working directory. */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** Where the spool lives unless configured: in the project, never committed. */
export const DEFAULT_SPOOL_PATH = ".deep-calm/spool.jsonl";

/**
 * The one absolute spool file for a configured path: relative paths are taken from the project
 * directory, never from the working directory (the engine runs the program from stacks/).
 */
export function spoolFile(configured: string = DEFAULT_SPOOL_PATH): string {
  return path.resolve(PROJECT_ROOT, configured === "" ? DEFAULT_SPOOL_PATH : configured);
}

export interface DeploymentLogOptions {
  /** postgres:// URL of the log database. */
  databaseUrl: string;
  /** Schema holding the tables; default the connection's search_path (public). */
  schema?: string;
  /** JSON-lines file records wait in while Postgres is unreachable; default .deep-calm/spool.jsonl (see spoolFile). */
  spoolPath?: string;
  /**
   * Flush only this env's spooled records: stacks writing to other databases share the spool file,
   * and their records must not land here. Default: every record.
   */
  spoolEnv?: string;
  /** Milliseconds to wait for a connection; default 3000. */
  connectTimeoutMs?: number;
  /** Milliseconds any one statement may take; default 10000. */
  statementTimeoutMs?: number;
  /** Apply the migrations before the first write; default true. */
  migrate?: boolean;
}

/** What a write did; logging trouble is reported here, never thrown. */
export interface WriteOutcome {
  /** The record is in Postgres (now or already was). */
  stored: boolean;
  /** The record waits in the spool file. */
  spooled: boolean;
  /** Spooled records written by this call (earlier ones flushed first). */
  flushed: number;
  /** Stored: true when this call added the row, false when a row with its id was there already. */
  inserted?: boolean;
  /** What went wrong, with credentials redacted; absent when all went well. */
  problem?: string;
}

export interface FlushOutcome {
  /** Records read from the spool. */
  pending: number;
  /** Rows actually inserted (records already present count as written but not inserted). */
  inserted: number;
  /** Records still in the spool. */
  remaining: number;
  problem?: string;
}

export interface HistoryQuery {
  env?: string;
  /** Only records deployed at or after this ISO time. */
  since?: string;
  limit?: number;
}

const COLUMNS = [
  "deploy_id",
  "env",
  "tag",
  "digest",
  "commit",
  "committed_at",
  "status",
  "deployed_by",
  "started_at",
  "finished_at",
  "deployed_at",
  "duration_ms",
  "rollback_from",
  "logs",
] as const;

function rowValues(r: DeploymentRecord): unknown[] {
  return [
    r.deployId,
    r.env,
    r.tag,
    r.digest ?? null,
    r.commit ?? null,
    r.committedAt ?? null,
    r.status,
    r.deployedBy ?? null,
    r.startedAt ?? r.deployedAt,
    r.finishedAt ?? r.deployedAt,
    r.deployedAt,
    r.durationMs === undefined || r.durationMs === null ? null : Math.max(0, Math.round(r.durationMs)),
    r.rollbackFrom ?? null,
    r.logs ?? null,
  ];
}

interface DeploymentRow {
  id: number;
  deploy_id: string;
  env: string;
  tag: string;
  digest: string | null;
  commit: string | null;
  committed_at: Date | null;
  status: DeploymentStatus;
  deployed_by: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  deployed_at: Date;
  duration_ms: number | null;
  rollback_from: string | null;
  logs: string | null;
}

function fromRow(row: DeploymentRow): StoredDeployment {
  return {
    id: row.id,
    deployId: row.deploy_id,
    env: row.env,
    tag: row.tag,
    digest: row.digest,
    commit: row.commit,
    committedAt: row.committed_at?.toISOString() ?? null,
    status: row.status,
    deployedBy: row.deployed_by,
    startedAt: row.started_at?.toISOString() ?? null,
    finishedAt: row.finished_at?.toISOString() ?? null,
    deployedAt: row.deployed_at.toISOString(),
    durationMs: row.duration_ms,
    rollbackFrom: row.rollback_from,
    logs: row.logs,
  };
}

/** A quoted SQL identifier for the schema name (letters, digits, underscore only). */
function schemaIdent(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`deployment log schema ${JSON.stringify(schema)} is not allowed; use lower-case letters, digits and _`);
  }
  return `"${schema}"`;
}

/**
 * The `deployments` table with a local spool in front of it: a write first flushes the spool,
 * then inserts by deploy id (a repeat is a no-op); when Postgres is unreachable the record is
 * appended to the spool. Every method reports trouble in its result instead of throwing.
 */
export class DeploymentLog {
  readonly spoolPath: string;
  private readonly opts: DeploymentLogOptions;
  private migrated = false;

  constructor(opts: DeploymentLogOptions) {
    this.opts = opts;
    this.spoolPath = spoolFile(opts.spoolPath);
  }

  /** Records one attempt; flushes the spool first. Never throws. */
  /**
   * Stores the record, or spools it when Postgres cannot be reached. `spool: false` drops it
   * instead: for a record the host hands over again later (an unconfirmed attempt), so an outage
   * does not fill the spool with copies.
   */
  async write(record: DeploymentRecord, options: { spool?: boolean } = {}): Promise<WriteOutcome> {
    let client: Client | undefined;
    try {
      client = await this.connect();
      const flushed = await this.flushWith(client);
      const inserted = await this.insert(client, record);
      const problem = flushed.problem;
      return { stored: true, spooled: false, flushed: flushed.inserted, inserted, ...(problem ? { problem } : {}) };
    } catch (err) {
      const problem = this.describe(err);
      if (options.spool === false) {
        return { stored: false, spooled: false, flushed: 0, problem: `deployment log unreachable, not spooled: ${problem}` };
      }
      try {
        this.appendToSpool([record]);
        return {
          stored: false,
          spooled: true,
          flushed: 0,
          problem: `deployment log unreachable, record spooled to ${this.spoolPath}: ${problem}`,
        };
      } catch (spoolErr) {
        return {
          stored: false,
          spooled: false,
          flushed: 0,
          problem: `record lost: ${problem}; spool ${this.spoolPath}: ${this.describe(spoolErr)}`,
        };
      }
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  /** Writes every spooled record; those written leave the spool. Safe to repeat. Never throws. */
  async flush(): Promise<FlushOutcome> {
    let client: Client | undefined;
    try {
      client = await this.connect();
      return await this.flushWith(client);
    } catch (err) {
      const pending = this.pendingRecords().length;
      return { pending, inserted: 0, remaining: pending, problem: this.describe(err) };
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  /** Records newest first. Throws on database trouble (for the commands, not the deploy). */
  async history(q: HistoryQuery = {}): Promise<StoredDeployment[]> {
    const client = await this.connect();
    try {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.env !== undefined) {
        params.push(q.env);
        where.push(`env = $${params.length}`);
      }
      if (q.since !== undefined) {
        params.push(q.since);
        where.push(`deployed_at >= $${params.length}`);
      }
      params.push(q.limit ?? 10_000);
      const sql = `SELECT * FROM deployments ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY deployed_at DESC, id DESC LIMIT $${params.length}`;
      const rows = await client.query<DeploymentRow>(sql, params);
      return rows.rows.map(fromRow);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Which of `deployIds` the log has no row of, in one query; none at all while it has no row of
   * `env` (a new database or schema). Throws on database trouble.
   */
  async missing(env: string, deployIds: readonly string[]): Promise<string[]> {
    const client = await this.connect();
    try {
      const res = await client.query<{ known: boolean; recorded: string[] }>(
        `SELECT EXISTS (SELECT 1 FROM deployments WHERE env = $1) AS known,
                ARRAY(SELECT deploy_id FROM deployments WHERE deploy_id = ANY($2)) AS recorded`,
        [env, [...deployIds]],
      );
      const row = res.rows[0];
      return row?.known ? deployIds.filter((id) => !row.recorded.includes(id)) : [];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * The order in which digests first served `env` (success or rolled_back): 1 for the first.
   * Ties in time go by insertion. Throws on database trouble.
   */
  async firstServed(env: string): Promise<Map<string, number>> {
    const client = await this.connect();
    try {
      const res = await client.query<{ digest: string; rank: string }>(
        `SELECT digest, ROW_NUMBER() OVER (ORDER BY deployed_at, id) AS rank FROM (
           SELECT DISTINCT ON (digest) digest, deployed_at, id FROM deployments
           WHERE env = $1 AND status IN ('success', 'rolled_back') AND digest IS NOT NULL
           ORDER BY digest, deployed_at, id
         ) AS first_served`,
        [env],
      );
      return new Map(res.rows.map((r) => [r.digest, Number(r.rank)]));
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Records a maintenance toggle (infra/deployment-log/maintenance.ts) in `maintenance_events`, by
   * its event id (a repeat is a no-op). Not a deploy: the metrics never read that table. Never
   * throws; an unreachable log is reported in the outcome (a toggle is not spooled).
   */
  async writeMaintenance(event: MaintenanceEvent): Promise<{ stored: boolean; inserted?: boolean; problem?: string }> {
    let client: Client | undefined;
    try {
      client = await this.connect();
      const res = await client.query(
        `INSERT INTO maintenance_events (event_id, env, state, message, toggled_by, toggled_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`,
        [event.eventId, event.env, event.state, event.message, event.toggledBy, event.toggledAt],
      );
      return { stored: true, inserted: res.rowCount === 1 };
    } catch (err) {
      return { stored: false, problem: `maintenance toggle not recorded: ${this.describe(err)}` };
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  /** The env's maintenance toggles, newest first. Throws on database trouble. */
  async maintenanceHistory(env: string, limit = 20): Promise<MaintenanceEvent[]> {
    const client = await this.connect();
    try {
      const res = await client.query<{
        event_id: string;
        env: string;
        state: "on" | "off";
        message: string | null;
        toggled_by: string | null;
        toggled_at: Date;
      }>(`SELECT * FROM maintenance_events WHERE env = $1 ORDER BY toggled_at DESC, id DESC LIMIT $2`, [env, limit]);
      return res.rows.map((r) => ({
        eventId: r.event_id,
        env: r.env,
        state: r.state,
        message: r.message,
        toggledBy: r.toggled_by,
        toggledAt: r.toggled_at.toISOString(),
      }));
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Applies the migrations now. Throws on trouble. */
  async migrate(): Promise<string[]> {
    const client = await this.connect(false);
    try {
      const applied = await migrate(client);
      this.migrated = true;
      return applied;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The records waiting in the spool (malformed lines are skipped). */
  readSpool(): DeploymentRecord[] {
    if (!existsSync(this.spoolPath)) {
      return [];
    }
    const records: DeploymentRecord[] = [];
    for (const line of readFileSync(this.spoolPath, "utf8").split("\n")) {
      if (line.trim() === "") {
        continue;
      }
      try {
        const value: unknown = JSON.parse(line);
        if (isDeploymentRecord(value)) {
          records.push(value);
        }
      } catch {
        continue;
      }
    }
    return records;
  }

  private async connect(withMigrations = true): Promise<Client> {
    const config: ClientConfig = {
      connectionString: this.opts.databaseUrl,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3000,
      statement_timeout: this.opts.statementTimeoutMs ?? 10_000,
      application_name: "deep-calm-deployment-log",
    };
    const client = new Client(config);
    // A dropped connection emits 'error'; without a listener it would crash the program.
    client.on("error", () => undefined);
    try {
      await client.connect();
      if (this.opts.schema !== undefined) {
        const ident = schemaIdent(this.opts.schema);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident}`);
        await client.query(`SET search_path TO ${ident}`);
      }
      if (withMigrations && !this.migrated && (this.opts.migrate ?? true)) {
        await migrate(client);
        this.migrated = true;
      }
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private async insert(client: Client, record: DeploymentRecord): Promise<boolean> {
    const placeholders = COLUMNS.map((_c, i) => `$${i + 1}`).join(", ");
    const res = await client.query(
      `INSERT INTO deployments (${COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (deploy_id) DO NOTHING`,
      rowValues(record),
    );
    return (res.rowCount ?? 0) > 0;
  }

  /** The spooled records this log writes: all, or its env's (spoolEnv). */
  private pendingRecords(): DeploymentRecord[] {
    const env = this.opts.spoolEnv;
    return this.readSpool().filter((r) => env === undefined || r.env === env);
  }

  private async flushWith(client: Client): Promise<FlushOutcome> {
    const pending = this.pendingRecords();
    if (pending.length === 0) {
      return { pending: 0, inserted: 0, remaining: 0 };
    }
    let inserted = 0;
    let written = 0;
    let problem: string | undefined;
    for (const record of pending) {
      try {
        if (await this.insert(client, record)) {
          inserted++;
        }
        written++;
      } catch (err) {
        problem = `spooled record ${record.deployId} not written: ${this.describe(err)}`;
        break;
      }
    }
    this.dropFromSpool(new Set(pending.slice(0, written).map((r) => r.deployId)));
    const remaining = pending.length - written;
    return { pending: pending.length, inserted, remaining, ...(problem ? { problem } : {}) };
  }

  private appendToSpool(records: DeploymentRecord[]): void {
    mkdirSync(path.dirname(this.spoolPath), { recursive: true, mode: 0o700 });
    appendFileSync(this.spoolPath, records.map((r) => `${JSON.stringify(r)}\n`).join(""), { mode: 0o600 });
  }

  /**
   * Rewrites the spool without the written ids, re-reading it so records appended during the flush
   * stay; the rename is atomic, so a crash leaves the old file and the next flush repeats harmlessly.
   */
  private dropFromSpool(written: Set<string>): void {
    const records = this.readSpool().filter((r) => !written.has(r.deployId));
    if (records.length === 0) {
      rmSync(this.spoolPath, { force: true });
      return;
    }
    const tmp = `${this.spoolPath}.${process.pid}.tmp`;
    writeFileSync(tmp, records.map((r) => `${JSON.stringify(r)}\n`).join(""), { mode: 0o600 });
    renameSync(tmp, this.spoolPath);
  }

  private describe(err: unknown): string {
    const message = err instanceof Error ? err.message || err.name : String(err);
    return redact(message, [this.opts.databaseUrl]).replace(/\s+/g, " ").trim();
  }
}
