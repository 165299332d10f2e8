/**
 * Review environments (README: Review environments), as review.yml runs them:
 *
 *   npm run review-env -- up <n> [--from dev]     create or update stack review-<n> (env pr-<n>) and deploy pr-<n>
 *   npm run review-env -- destroy <n>             pulumi destroy, then remove the stack
 *   npm run review-env -- expire [--from dev]     destroy every review stack idle longer than reviewTtlDays
 *
 * `up` copies the config of --from (dev by default) into the review stack each time
 * (`pulumi config cp`: values copied, secrets re-encrypted for the review stack), so a new host
 * key or deploy key of dev reaches the review envs; what differs per pull request (tag, ports,
 * site, URL) the program derives from the stack name. With GITHUB_OUTPUT set, `up` writes
 * `url=<the env's URL>` there. Exit 0 when done, 1 when a pulumi command failed, 2 on bad arguments.
 */
import { appendFileSync } from "node:fs";
import { loadConfigSchema } from "../../stacks/schema";
import { pulumi, PulumiRun } from "../lib/pulumi";

export const REVIEW_PREFIX = "review-";

export function reviewStack(pr: string): string {
  if (!/^[1-9][0-9]{0,6}$/.test(pr)) {
    throw new UsageError(`pull request number: "${pr}" is not allowed; use a number such as 42`);
  }
  return `${REVIEW_PREFIX}${pr}`;
}

export class UsageError extends Error {}

export interface StackSummary {
  name: string;
  lastUpdate?: string;
}

/** Review stacks whose last update is older than ttlDays at `now` (a stack never updated counts as idle). */
export function expiredStacks(stacks: StackSummary[], ttlDays: number, now: Date): string[] {
  const limit = now.getTime() - ttlDays * 86_400_000;
  return stacks
    .map((s) => ({ ...s, name: s.name.split("/").pop() ?? s.name }))
    .filter((s) => /^review-[1-9][0-9]*$/.test(s.name))
    .filter((s) => {
      const at = Date.parse(s.lastUpdate ?? "");
      return Number.isNaN(at) || at < limit;
    })
    .map((s) => s.name)
    .sort();
}

function must(what: string, run: PulumiRun): PulumiRun {
  if (run.status !== 0) {
    throw new Error(`${what} failed (exit ${run.status}): ${run.stderr.trim() || run.stdout.trim()}`);
  }
  return run;
}

function stackExists(stack: string): boolean {
  return pulumi(stack, ["stack", "select"]).status === 0;
}

export function up(pr: string, from: string): string {
  const stack = reviewStack(pr);
  if (!stackExists(stack)) {
    must(`pulumi stack init ${stack}`, pulumi(stack, ["stack", "init"]));
  }
  must(`pulumi config cp -s ${from} -d ${stack}`, pulumi(from, ["config", "cp", "--dest", stack]));
  must(
    `pulumi up -s ${stack}`,
    pulumi(stack, ["up", "--yes", "--skip-preview", "--color", "never", "--message", `review env pr-${pr}: deploy pr-${pr}`], {
      inherit: true,
    }),
  );
  const url = must(`pulumi stack output url -s ${stack}`, pulumi(stack, ["stack", "output", "url"])).stdout.trim();
  if (process.env.GITHUB_OUTPUT) {
    appendFileSync(process.env.GITHUB_OUTPUT, `url=${url}\n`);
  }
  return url;
}

export function destroy(pr: string): boolean {
  const stack = reviewStack(pr);
  if (!stackExists(stack)) {
    console.log(`${stack}: no such stack, nothing to destroy`);
    return false;
  }
  must(`pulumi destroy -s ${stack}`, pulumi(stack, ["destroy", "--yes", "--skip-preview", "--color", "never"], { inherit: true }));
  must(`pulumi stack rm ${stack}`, pulumi(stack, ["stack", "rm", "--yes"]));
  return true;
}

function ttlDays(from: string): number {
  const set = pulumi(from, ["config", "get", "reviewTtlDays"]);
  const raw = set.status === 0 ? set.stdout.trim() : String(loadConfigSchema().reviewTtlDays?.default ?? 7);
  const days = Number(raw);
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new UsageError(`reviewTtlDays: "${raw}" is not allowed; use a whole number of days from 1 to 365`);
  }
  return days;
}

export function expire(from: string, now = new Date()): string[] {
  const days = ttlDays(from);
  const listed = must("pulumi stack ls", pulumi(from, ["stack", "ls", "--json"]));
  const expired = expiredStacks(JSON.parse(listed.stdout) as StackSummary[], days, now);
  for (const stack of expired) {
    console.log(`${stack}: no deploy for ${days} days or more (reviewTtlDays), destroying`);
    destroy(stack.slice(REVIEW_PREFIX.length));
  }
  return expired;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const fromAt = rest.indexOf("--from");
  const from = fromAt >= 0 ? (rest[fromAt + 1] ?? "") : "dev";
  const args = fromAt >= 0 ? rest.filter((_, i) => i !== fromAt && i !== fromAt + 1) : rest;
  try {
    if (!/^[a-z][a-z0-9-]*$/.test(from)) throw new UsageError(`--from: "${from}" is not allowed; name a stack such as dev`);
    if (command === "up" && args.length === 1) {
      console.log(up(args[0] as string, from));
    } else if (command === "destroy" && args.length === 1) {
      destroy(args[0] as string);
    } else if (command === "expire" && args.length === 0) {
      const gone = expire(from);
      console.log(gone.length === 0 ? "no review env is idle past reviewTtlDays" : `destroyed: ${gone.join(", ")}`);
    } else {
      throw new UsageError("usage: review-env up <n> [--from dev] | destroy <n> | expire [--from dev]");
    }
    return 0;
  } catch (err) {
    console.error(`review-env: ${(err as Error).message}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
