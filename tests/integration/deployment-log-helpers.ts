/** Shared by the deployment-log suites: the local Postgres, a schema per run, a Telegram stand-in. */
import { existsSync, readFileSync } from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { Client } from "pg";
import { DeploymentLog, DeploymentLogOptions } from "../../infra/deployment-log/log";

export const REPO_ROOT = path.resolve(__dirname, "../..");

/** The local target's DATABASE_URL (DATABASE_URL wins when set). */
export function databaseUrl(): string {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    return fromEnv;
  }
  const file = path.join(REPO_ROOT, ".local-target/postgres.env");
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: start the local target with 'bash scripts/dev/local-target.sh up'`);
  }
  const url = /^DATABASE_URL=(.*)$/m.exec(readFileSync(file, "utf8"))?.[1]?.trim();
  if (!url) {
    throw new Error(`${file} has no DATABASE_URL line`);
  }
  return url;
}

/** The same credentials aimed at a closed loopback port: Postgres "down" without touching the shared one. */
export function unreachableUrl(): string {
  const url = new URL(databaseUrl());
  url.hostname = "127.0.0.1";
  url.port = "5999";
  return url.toString();
}

/** A fresh schema name for this process and purpose. */
export function testSchema(purpose: string): string {
  return `deepcalm_test_${process.pid}_${purpose}`;
}

export function logFor(schema: string, spoolPath: string, extra: Partial<DeploymentLogOptions> = {}): DeploymentLog {
  return new DeploymentLog({ databaseUrl: databaseUrl(), schema, spoolPath, connectTimeoutMs: 2000, ...extra });
}

/** Runs SQL on the shared database (outside any test schema). */
export async function sql<T extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export interface TelegramRequest {
  path: string;
  body: { chat_id?: string; text?: string; parse_mode?: string; [key: string]: unknown };
  raw: string;
}

/** A Bot API stand-in on 127.0.0.1: records every request; `answers` scripts the next responses. */
export interface TelegramStandIn {
  url: string;
  requests: TelegramRequest[];
  /** Status codes for the next requests, consumed in order; afterwards 200. */
  answers: number[];
  close(): Promise<void>;
}

export async function startTelegramStandIn(): Promise<TelegramStandIn> {
  const stand: TelegramStandIn = { url: "", requests: [], answers: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      let body: TelegramRequest["body"] = {};
      try {
        body = JSON.parse(raw) as TelegramRequest["body"];
      } catch {
        body = {};
      }
      stand.requests.push({ path: req.url ?? "", body, raw });
      const status = stand.answers.shift() ?? 200;
      const payload =
        status === 200
          ? { ok: true, result: { message_id: stand.requests.length } }
          : status === 429
            ? { ok: false, error_code: 429, description: "Too Many Requests: retry after 0", parameters: { retry_after: 0 } }
            : { ok: false, error_code: status, description: `stand-in answered ${status} for ${req.url ?? ""}` };
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  stand.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stand.close = () => new Promise((resolve) => server.close(() => resolve()));
  return stand;
}
