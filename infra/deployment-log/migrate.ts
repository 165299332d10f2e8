import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import type { ClientBase } from "pg";

/** The SQL migrations shipped with the project, applied in file-name order. */
export const MIGRATIONS_DIR = path.join(__dirname, "migrations");

export interface Migration {
  name: string;
  sql: string;
}

/** Reads `NNN_name.sql` files sorted by name. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => ({ name, sql: readFileSync(path.join(dir, name), "utf8") }));
}

/**
 * Applies each migration not yet in `schema_migrations`, each in its own transaction.
 * An advisory lock keeps two runners from applying the same file at once. Returns the names applied.
 */
export async function migrate(client: ClientBase, migrations: Migration[] = loadMigrations()): Promise<string[]> {
  const applied: string[] = [];
  await client.query("SELECT pg_advisory_lock(hashtext('deep-calm:schema_migrations'))");
  try {
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())",
    );
    const done = new Set((await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name));
    for (const m of migrations) {
      if (done.has(m.name)) {
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (name) VALUES ($1)", [m.name]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('deep-calm:schema_migrations'))");
  }
  return applied;
}
