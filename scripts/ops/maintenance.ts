/**
 * The operator's shortcut for maintenance mode (README: Maintenance mode):
 *
 *   npm run maintenance -- <stack> on [--message TEXT] [--retry-after S] [--commit | --up]
 *   npm run maintenance -- <stack> off [--commit | --up]
 *
 * Sets `maintenance` (and `maintenanceMessage`, `maintenanceRetryAfter`) in the stack's config
 * with the real CLI (`pulumi config set`, so Pulumi.<stack>.yaml changes exactly as by hand; the
 * message goes on its stdin). `off` removes the message too. Then, with `--commit`, it commits
 * Pulumi.<stack>.yaml alone (`maintenance(<stack>): on`) for the deploy workflow to apply once
 * pushed; with `--up`, it runs `pulumi up` now. Neither: the file is changed and nothing more.
 * The message is checked as `pulumi preview` checks it; bad input exits 2 and changes nothing.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ConfigValueError } from "../../infra/errors";
import { maintenanceMessage } from "../../infra/maintenance";
import { integerIn } from "../../infra/validate";
import { profileFor } from "../../stacks/config";
import { PROJECT_DIR, pulumi, stackContext } from "../lib/pulumi";

const USAGE =
  "usage: npm run maintenance -- <stack> on [--message TEXT] [--retry-after S] [--commit | --up] | <stack> off [--commit | --up]";

export interface MaintenanceRequest {
  stack: string;
  on: boolean;
  /** Undefined: keep the stack's message (on), or remove it (off). */
  message?: string;
  retryAfterSeconds?: number;
  then: "commit" | "up" | "none";
}

/** The command line, checked: unknown flags, a bad message or a bad stack throw (exit 2). */
export function parseMaintenanceArgs(argv: readonly string[]): MaintenanceRequest {
  const rest = [...argv];
  const stack = rest.shift();
  const mode = rest.shift();
  if (stack === undefined || (mode !== "on" && mode !== "off")) {
    throw new Error(USAGE);
  }
  profileFor(stack);
  const req: MaintenanceRequest = { stack, on: mode === "on", then: "none" };
  while (rest.length > 0) {
    const flag = rest.shift() as string;
    const value = () => {
      const v = rest.shift();
      if (v === undefined) throw new Error(`${flag} needs a value; ${USAGE}`);
      return v;
    };
    if (flag === "--message" && req.on) {
      req.message = maintenanceMessage("maintenanceMessage", value());
    } else if (flag === "--retry-after" && req.on) {
      const raw = value();
      req.retryAfterSeconds = integerIn("maintenanceRetryAfter", /^\d{1,6}$/.test(raw) ? Number(raw) : raw, 1, 86400);
    } else if ((flag === "--commit" || flag === "--up") && req.then === "none") {
      req.then = flag === "--commit" ? "commit" : "up";
    } else {
      throw new Error(`${flag}: not an option here; ${USAGE}`);
    }
  }
  if (req.then === "commit" && stack === "local") {
    throw new Error("--commit: the local stack's config is a working copy outside git (.pulumi-state); use --up");
  }
  return req;
}

/** One step of the plan: a pulumi or git invocation, with stdin when the value must not be on argv. */
export interface Step {
  tool: "pulumi" | "git";
  args: string[];
  stdin?: string;
}

/** What the request runs, in order. */
export function maintenancePlan(req: MaintenanceRequest): Step[] {
  const steps: Step[] = [{ tool: "pulumi", args: ["config", "set", "maintenance", req.on ? "true" : "false"] }];
  if (req.on && req.message !== undefined) {
    steps.push({ tool: "pulumi", args: ["config", "set", "maintenanceMessage"], stdin: req.message });
  }
  if (req.on && req.retryAfterSeconds !== undefined) {
    steps.push({ tool: "pulumi", args: ["config", "set", "maintenanceRetryAfter", String(req.retryAfterSeconds)] });
  }
  if (!req.on) {
    steps.push({ tool: "pulumi", args: ["config", "rm", "maintenanceMessage"] });
  }
  if (req.then === "commit") {
    const file = `Pulumi.${req.stack}.yaml`;
    steps.push({ tool: "git", args: ["commit", "-m", `maintenance(${req.stack}): ${req.on ? "on" : "off"}`, "--", file] });
  } else if (req.then === "up") {
    steps.push({ tool: "pulumi", args: ["up", "--yes", "--skip-preview"] });
  }
  return steps;
}

function run(stack: string, step: Step): number {
  if (step.tool === "git") {
    return spawnSync("git", step.args, { cwd: PROJECT_DIR, stdio: "inherit" }).status ?? 1;
  }
  if (step.stdin === undefined) {
    const inherit = step.args[0] === "up";
    const r = pulumi(stack, step.args, { config: true, inherit });
    if (!inherit) process.stderr.write(r.stderr);
    return step.args[1] === "rm" ? 0 : r.status;
  }
  // The value on stdin: a message may start with "-", and stays off the process list.
  const { env, configFlags } = stackContext(stack);
  const r = spawnSync("pulumi", [...step.args, "-s", stack, ...configFlags], {
    cwd: PROJECT_DIR,
    env,
    input: step.stdin,
    encoding: "utf8",
  });
  process.stderr.write(r.stderr ?? "");
  return r.status ?? 1;
}

export function main(argv: readonly string[]): number {
  let req: MaintenanceRequest;
  try {
    req = parseMaintenanceArgs(argv);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  }
  for (const step of maintenancePlan(req)) {
    const status = run(req.stack, step);
    if (status !== 0) {
      console.error(`maintenance: ${step.tool} ${step.args.slice(0, 3).join(" ")} failed (exit ${status})`);
      return 1;
    }
  }
  const where = req.stack === "local" ? "the local stack's config" : join(".", `Pulumi.${req.stack}.yaml`);
  const next =
    req.then === "commit"
      ? "committed: push it, and the deploy workflow applies it"
      : req.then === "up"
        ? "applied"
        : `apply it with pulumi up -s ${req.stack}, or commit ${where}`;
  console.log(`maintenance ${req.on ? "on" : "off"} for ${req.stack} in ${where}; ${next}`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof ConfigValueError || err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  }
}
