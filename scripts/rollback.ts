/**
 * One-command rollback: `npm run rollback -- <stack> [--to <tag>]`.
 * Finds the previous good release (the newest successful update whose imageTag differs from the
 * current one, from the stack's history) unless --to names one, and runs `pulumi up` with it:
 * a rollback is a deploy of an older tag, health-gated like any other.
 */
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

function main(): number {
  const { stack, to } = parseArgs(process.argv.slice(2));
  const current = pulumi(stack, ["config", "get", "imageTag"], { config: true }).stdout.trim();
  let target = to;
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
    process.exitCode = main();
  } catch (err) {
    console.error(err instanceof ConfigValueError || err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  }
}
