/**
 * One-command rollback: `npm run rollback -- <stack> [--to <tag>]`.
 * Finds the previous good release unless --to names one: from the deployment log in Postgres
 * when the stack has one (the newest success or rolled_back row of another tag), else from the
 * stack's history (the newest successful update that ran another tag). Then runs `pulumi up`
 * with it: a rollback is a deploy of an older tag, health-gated like any other.
 */
import { DeploymentLog } from "../infra/deployment-log/log";
import { StoredDeployment } from "../infra/deployment-log/record";
import { redact } from "../infra/deployment-log/redact";
import { ConfigValueError } from "../infra/errors";
import { parseImageTag } from "../infra/tag";
import { profileFor } from "../stacks/config";
import { pulumi } from "./lib/pulumi";

const PROJECT = "deep-calm-deploy";

export interface HistoryEntry {
  kind: string;
  result: string;
  startTime?: string | number;
  config?: Record<string, { value?: string; secret?: boolean } | string>;
}

function tagOf(entry: HistoryEntry): string | undefined {
  const value = entry.config?.[`${PROJECT}:imageTag`];
  return typeof value === "string" ? value : value?.value;
}

/** The tag to return to: newest first, the first successful update that ran another tag. */
export function previousGoodTag(history: HistoryEntry[], current: string): string | undefined {
  for (const entry of history) {
    const tag = tagOf(entry);
    if (entry.kind === "update" && entry.result === "succeeded" && tag !== undefined && tag !== "" && tag !== current) {
      return tag;
    }
  }
  return undefined;
}

/** The same rule over the deployment log's rows (newest first). */
export function previousGoodFromLog(rows: Pick<StoredDeployment, "tag" | "status">[], current: string): string | undefined {
  return rows.find((r) => (r.status === "success" || r.status === "rolled_back") && r.tag !== "" && r.tag !== current)?.tag;
}

/** From Postgres when the stack records there; undefined (with why) to fall back to stack history. */
async function fromDeploymentLog(stack: string, env: string, current: string): Promise<{ tag?: string; note: string }> {
  const url = pulumi(stack, ["config", "get", "deploymentLogDatabaseUrl"], { config: true });
  const databaseUrl = url.status === 0 ? url.stdout.trim() : "";
  if (databaseUrl === "") {
    return { note: "no deployment log configured; using the stack's history" };
  }
  const schema = pulumi(stack, ["config", "get", "deploymentLogSchema"], { config: true }).stdout.trim();
  try {
    const log = new DeploymentLog({ databaseUrl, ...(schema === "" ? {} : { schema }) });
    const tag = previousGoodFromLog(await log.history({ env, limit: 200 }), current);
    return tag === undefined
      ? { note: "the deployment log has no earlier good release; using the stack's history" }
      : { tag, note: "from the deployment log" };
  } catch (err) {
    return { note: `the deployment log is unreachable (${redact((err as Error).message, [databaseUrl])}); using the stack's history` };
  }
}

export function parseArgs(argv: string[]): { stack: string; to?: string } {
  const [stack, ...rest] = argv;
  if (stack === undefined || stack.startsWith("-")) {
    throw new Error("usage: npm run rollback -- <stack> [--to <tag>]");
  }
  profileFor(stack);
  if (rest.length === 0) {
    return { stack };
  }
  if (rest.length === 2 && rest[0] === "--to") {
    return { stack, to: parseImageTag("--to", rest[1]).tag };
  }
  throw new Error(`unexpected arguments: ${rest.join(" ")}; usage: npm run rollback -- <stack> [--to <tag>]`);
}

async function main(): Promise<number> {
  const { stack, to } = parseArgs(process.argv.slice(2));
  const current = pulumi(stack, ["config", "get", "imageTag"], { config: true }).stdout.trim();
  let target = to;
  if (target === undefined) {
    const logged = await fromDeploymentLog(stack, profileFor(stack).env, current);
    console.log(`previous good release: ${logged.note}`);
    target = logged.tag;
  }
  if (target === undefined) {
    const history = pulumi(stack, ["stack", "history", "--output", "json", "--page-size", "50"]);
    if (history.status !== 0) {
      throw new Error(`cannot read the history of ${stack}: ${history.stderr.trim()}`);
    }
    target = previousGoodTag(JSON.parse(history.stdout) as HistoryEntry[], current);
    if (target === undefined) {
      throw new Error(`${stack} has no earlier successful release than ${current} in its history; name one with --to <tag>`);
    }
  }
  if (target === current) {
    console.log(`${stack} already runs ${current}; running pulumi up to make sure it is the serving release`);
  }
  console.log(`rolling ${stack} back: ${current || "(none)"} -> ${target}`);
  const set = pulumi(stack, ["config", "set", "imageTag", target], { config: true });
  if (set.status !== 0) {
    throw new Error(`cannot set imageTag: ${set.stderr.trim()}`);
  }
  const started = Date.now();
  const up = pulumi(stack, ["up", "--yes", "--skip-preview"], { inherit: true, config: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (up.status !== 0) {
    console.error(`rollback of ${stack} to ${target} failed after ${seconds}s; the release that was serving still serves`);
    return up.status;
  }
  const release = pulumi(stack, ["stack", "output", "release", "--json"]).stdout.trim();
  console.log(`rolled ${stack} back to ${target} in ${seconds}s`);
  console.log(`release: ${release.replace(/\s+/g, " ")}`);
  return 0;
}

if (require.main === module) {
  try {
    main().then(
      (code) => (process.exitCode = code),
      (err: unknown) => {
        console.error(err instanceof Error ? err.message : String(err));
        process.exitCode = 2;
      },
    );
  } catch (err) {
    console.error(err instanceof ConfigValueError || err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  }
}
