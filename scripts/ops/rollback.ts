/**
 * One-command rollback: `npm run rollback -- <stack> [--to <tag>]`.
 * Finds the previous good release unless --to names one, only among the releases since the env
 * was last created on its host (dc-release's `created`, in the stack's `release` output): a
 * release from before a `pulumi destroy` is nothing to go back to. From the deployment log in
 * Postgres when the stack has one (the newest success or rolled_back row of another tag), else
 * from the stack's history (the newest successful update that ran another tag). Then runs
 * `pulumi up` with it: a rollback is a deploy of an older tag, health-gated like any other.
 * With nothing to go back to it says so, changes nothing and exits 1.
 */
import { DeploymentLog } from "../../infra/deployment-log/log";
import { StoredDeployment } from "../../infra/deployment-log/record";
import { redact } from "../../infra/deployment-log/redact";
import { releaseResultFrom } from "../../infra/release-result";
import { parseImageTag } from "../../infra/tag";
import { profileFor } from "../../stacks/config";
import { pulumi } from "../lib/pulumi";

const PROJECT = "deep-calm-deploy";

export interface HistoryEntry {
  kind: string;
  result: string;
  startTime?: string | number;
  endTime?: string | number;
  config?: Record<string, { value?: string; secret?: boolean } | string>;
}

/** Exit code when there is nothing to go back to (as dc-release rollback). */
export const NOTHING_TO_ROLL_BACK = 1;

function tagOf(entry: HistoryEntry): string | undefined {
  const value = entry.config?.[`${PROJECT}:imageTag`];
  return typeof value === "string" ? value : value?.value;
}

function millis(time: string | number | undefined): number | undefined {
  const ms = typeof time === "number" ? time * (time < 1e12 ? 1000 : 1) : Date.parse(time ?? "");
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The tag to return to: newest first, the first successful update that ran another tag, within
 * the env's lifetime: nothing before the last destroy, nor what ended before `created` (the
 * history keeps whole seconds, so `created` is taken to its second).
 */
export function previousGoodTag(history: HistoryEntry[], current: string, created?: string): string | undefined {
  const since = created === undefined ? undefined : Math.floor(Date.parse(created) / 1000) * 1000;
  for (const entry of history) {
    if (entry.kind === "destroy") {
      return undefined;
    }
    const ended = millis(entry.endTime ?? entry.startTime);
    if (since !== undefined && ended !== undefined && ended < since) {
      return undefined;
    }
    const tag = tagOf(entry);
    if (entry.kind === "update" && entry.result === "succeeded" && tag !== undefined && tag !== "" && tag !== current) {
      return tag;
    }
  }
  return undefined;
}

/**
 * When the env was last created, from the stack's `release` output (dc-release's result line). An
 * output that does not fit the format (left by an older version of this program, say) tells no
 * lifetime, and `problem` says why: a rollback must still work, so the search then looks through
 * the whole history, as it does on an env older than `created`.
 */
export function createdFromRelease(releaseJson: string): { created?: string; problem?: string } {
  try {
    const { created } = releaseResultFrom(JSON.parse(releaseJson));
    return created === null ? {} : { created };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

/** The same rule over the deployment log's rows (newest first). */
export function previousGoodFromLog(rows: Pick<StoredDeployment, "tag" | "status">[], current: string): string | undefined {
  return rows.find((r) => (r.status === "success" || r.status === "rolled_back") && r.tag !== "" && r.tag !== current)?.tag;
}

/** From Postgres when the stack records there; undefined (with why) to fall back to stack history. */
async function fromDeploymentLog(stack: string, env: string, current: string, created?: string): Promise<{ tag?: string; note: string }> {
  const url = pulumi(stack, ["config", "get", "deploymentLogDatabaseUrl"], { config: true });
  const databaseUrl = url.status === 0 ? url.stdout.trim() : "";
  if (databaseUrl === "") {
    return { note: "no deployment log configured; using the stack's history" };
  }
  const schema = pulumi(stack, ["config", "get", "deploymentLogSchema"], { config: true }).stdout.trim();
  try {
    const log = new DeploymentLog({ databaseUrl, ...(schema === "" ? {} : { schema }) });
    const tag = previousGoodFromLog(await log.history({ env, limit: 200, ...(created ? { since: created } : {}) }), current);
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

/** The env's lifetime as the host reported it at the stack's last `pulumi up`; undefined: no release. */
function hostRelease(stack: string): { created?: string; problem?: string } | undefined {
  const output = pulumi(stack, ["stack", "output", "release", "--json"]);
  const text = output.stdout.trim();
  if (output.status !== 0 || text === "" || text === "null" || text === "{}") {
    return undefined;
  }
  return createdFromRelease(text);
}

/** The previous good release of the env's lifetime, or the plain reason there is none. */
async function previousGood(stack: string, current: string): Promise<{ tag?: string; none?: string }> {
  const release = hostRelease(stack);
  if (release === undefined) {
    return { none: `${stack} has no release on its host (never deployed, or destroyed)` };
  }
  const { created, problem } = release;
  const since = created === undefined ? "" : ` since its env was created on the host at ${created}`;
  const unknown = problem === undefined ? "the host does not say when the env was created" : `the stack's release output: ${problem}`;
  console.log(`previous good release: looking${since || ` in the whole history (${unknown})`}`);
  const logged = await fromDeploymentLog(stack, profileFor(stack).env, current, created);
  console.log(`previous good release: ${logged.note}`);
  if (logged.tag !== undefined) {
    return { tag: logged.tag };
  }
  const history = pulumi(stack, ["stack", "history", "--output", "json", "--page-size", "50"]);
  if (history.status !== 0) {
    throw new Error(`cannot read the history of ${stack}: ${history.stderr.trim()}`);
  }
  const tag = previousGoodTag(JSON.parse(history.stdout) as HistoryEntry[], current, created);
  return tag === undefined ? { none: `${stack} has served no release but ${current || "its current one"}${since}` } : { tag };
}

async function main(): Promise<number> {
  const { stack, to } = parseArgs(process.argv.slice(2));
  const current = pulumi(stack, ["config", "get", "imageTag"], { config: true }).stdout.trim();
  let target = to;
  if (target === undefined) {
    const found = await previousGood(stack, current);
    if (found.tag === undefined) {
      console.error(
        `nothing to roll back to: ${found.none ?? stack}; nothing changed. To deploy another release anyway: npm run rollback -- ${stack} --to <tag>`,
      );
      return NOTHING_TO_ROLL_BACK;
    }
    target = found.tag;
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
  // One line: re-serialized, not whitespace-squeezed, which would change the strings inside.
  console.log(`release: ${JSON.stringify(JSON.parse(release))}`);
  return 0;
}

if (require.main === module) {
  // main is async: whatever it throws, a bad argument included, arrives here as a rejection.
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 2;
    },
  );
}
