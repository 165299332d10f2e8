/** Runs the pulumi CLI for operator commands, with the local stack's backend where it applies. */
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export const PROJECT_DIR = join(__dirname, "..", "..");
const LOCAL_STATE = join(PROJECT_DIR, ".pulumi-state");

/**
 * The environment and extra flags for one stack. The local stack lives in a file:// backend
 * inside the project with a local-only passphrase, and deploys from a working copy of
 * Pulumi.local.yaml so that changing its tag leaves git clean (scripts/pulumi-local.sh does the same).
 */
export function stackContext(stack: string): { env: NodeJS.ProcessEnv; configFlags: string[] } {
  const engineBin = join(PROJECT_DIR, ".engine", "bin");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: existsSync(engineBin) ? `${engineBin}:${process.env.PATH ?? ""}` : process.env.PATH,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION ?? "true",
  };
  if (stack !== "local") {
    return { env, configFlags: [] };
  }
  mkdirSync(LOCAL_STATE, { recursive: true });
  const configFile = join(LOCAL_STATE, "Pulumi.local.yaml");
  if (!existsSync(configFile)) {
    copyFileSync(join(PROJECT_DIR, "Pulumi.local.yaml"), configFile);
  }
  env.PULUMI_BACKEND_URL = `file://${LOCAL_STATE}`;
  env.PULUMI_CONFIG_PASSPHRASE = process.env.PULUMI_CONFIG_PASSPHRASE ?? "deep-calm-local-only";
  return { env, configFlags: ["--config-file", configFile] };
}

export interface PulumiRun {
  status: number;
  stdout: string;
  stderr: string;
}

let localStackReady = false;

/** The local stack is created in its backend on first use (a fresh clone has none). */
function ensureLocalStack(env: NodeJS.ProcessEnv): void {
  if (localStackReady) {
    return;
  }
  const run = (args: string[]) => spawnSync("pulumi", args, { cwd: PROJECT_DIR, env, encoding: "utf8" });
  if (run(["stack", "select", "local"]).status !== 0) {
    const init = run(["stack", "init", "local"]);
    if (init.status !== 0) {
      throw new Error(`cannot create the local stack: ${init.stderr.trim()}`);
    }
  }
  localStackReady = true;
}

/** Runs `pulumi <args> -s <stack>`; `inherit` streams its output to the terminal. */
export function pulumi(stack: string, args: string[], options: { inherit?: boolean; config?: boolean } = {}): PulumiRun {
  const { env, configFlags } = stackContext(stack);
  if (stack === "local") {
    ensureLocalStack(env);
  }
  const argv = [...args, "-s", stack, ...(options.config ? configFlags : [])];
  const result: SpawnSyncReturns<string> = spawnSync("pulumi", argv, {
    cwd: PROJECT_DIR,
    env,
    encoding: "utf8",
    stdio: options.inherit ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`cannot run pulumi: ${result.error.message} (install it, or run scripts/install-engine.sh)`);
  }
  return { status: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}
