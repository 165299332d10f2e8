/** Runs the pulumi CLI for operator commands, with the local stack's backend where it applies. */
import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const PROJECT_DIR = join(__dirname, "..", "..");
const LOCAL_STATE = join(PROJECT_DIR, ".pulumi-state");

/** Where the local stack lives: a file:// backend in the project, a working copy of its config. */
export const LOCAL_STACK = {
  backendUrl: `file://${LOCAL_STATE}`,
  /** Protects nothing but this machine's throwaway local stack; real stacks use their own provider. */
  passphrase: process.env.PULUMI_CONFIG_PASSPHRASE ?? "deep-calm-local-only",
  /** Changing the local stack's tag edits this copy of Pulumi.local.yaml, so git stays clean. */
  configFile: join(LOCAL_STATE, "Pulumi.local.yaml"),
};

/** The stacks that deploy to this machine: `local` (the local target) and `local-k8s` (the local cluster). */
export const MACHINE_STACKS = ["local", "local-k8s"] as const;

export function isMachineStack(stack: string): boolean {
  return (MACHINE_STACKS as readonly string[]).includes(stack);
}

/** The working copy of a machine stack's config (Pulumi.<stack>.yaml copied into the local backend's directory). */
export function machineConfigFile(stack: string): string {
  return join(LOCAL_STATE, `Pulumi.${stack}.yaml`);
}

/**
 * PATH with the project's own tools first, where installed: the engine (.engine/bin) and Node 24
 * (.node/bin, scripts/dev/install-node.sh), which the language host runs the program with.
 */
export function projectPath(path: string = process.env.PATH ?? ""): string {
  const dirs = [join(PROJECT_DIR, ".engine", "bin"), join(PROJECT_DIR, ".node", "bin")].filter((dir) => existsSync(dir));
  return [...dirs, path].filter((part) => part !== "").join(":");
}

/**
 * The environment and extra flags for one stack. The local stack lives in a file:// backend
 * inside the project with a local-only passphrase, deploys from a working copy of
 * Pulumi.local.yaml and never downloads plugins. Every other stack downloads the provider
 * plugins it lacks (automatic acquisition stays on unless the caller's environment turns it
 * off). Shell scripts get the same through scripts/dev/pulumi-local.sh, which asks
 * scripts/dev/local-stack.ts.
 */
export function stackContext(stack: string, callerEnv: NodeJS.ProcessEnv = process.env): { env: NodeJS.ProcessEnv; configFlags: string[] } {
  // Other stacks keep the caller's setting: a fresh runner has no provider plugins and must download them.
  const env: NodeJS.ProcessEnv = { ...callerEnv, PATH: projectPath(callerEnv.PATH ?? ""), PULUMI_SKIP_UPDATE_CHECK: "true" };
  if (!isMachineStack(stack)) {
    return { env, configFlags: [] };
  }
  // This machine cannot download plugins; its stacks need none beyond what install-engine.sh put in the cache.
  env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION = "true";
  mkdirSync(LOCAL_STATE, { recursive: true });
  const configFile = machineConfigFile(stack);
  if (!existsSync(configFile)) {
    copyFileSync(join(PROJECT_DIR, `Pulumi.${stack}.yaml`), configFile);
  }
  env.PULUMI_BACKEND_URL = LOCAL_STACK.backendUrl;
  env.PULUMI_CONFIG_PASSPHRASE = LOCAL_STACK.passphrase;
  return { env, configFlags: ["--config-file", configFile] };
}

export interface PulumiRun {
  status: number;
  stdout: string;
  stderr: string;
}

const readyStacks = new Set<string>();

/**
 * The local stack is created in its backend on first use (a fresh clone has none), and records
 * its deploys in the local target's Postgres once that exists (the URL goes in as a secret).
 */
export function ensureLocalStack(env: NodeJS.ProcessEnv, stack = "local"): void {
  if (readyStacks.has(stack)) {
    return;
  }
  const run = (args: string[], input?: string) => spawnSync("pulumi", args, { cwd: PROJECT_DIR, env, encoding: "utf8", input });
  if (run(["stack", "select", stack]).status !== 0) {
    const init = run(["stack", "init", stack]);
    if (init.status !== 0) {
      throw new Error(`cannot create the ${stack} stack: ${init.stderr.trim()}`);
    }
  }
  const databaseUrl = localTargetDatabaseUrl();
  const configFile = machineConfigFile(stack);
  if (databaseUrl !== undefined && !readFileSync(configFile, "utf8").includes("deploymentLogDatabaseUrl")) {
    const args = ["config", "set", "-s", stack, "--config-file", configFile, "--secret", "deploymentLogDatabaseUrl"];
    const set = run(args, databaseUrl);
    if (set.status !== 0) {
      throw new Error(`cannot set the ${stack} stack's deploymentLogDatabaseUrl: ${set.stderr.trim()}`);
    }
  }
  readyStacks.add(stack);
}

/** DATABASE_URL of the local target's Postgres (.local-target/postgres.env), once it is up. */
function localTargetDatabaseUrl(): string | undefined {
  const file = join(PROJECT_DIR, ".local-target", "postgres.env");
  return existsSync(file) ? /^DATABASE_URL=(.+)$/m.exec(readFileSync(file, "utf8"))?.[1]?.trim() : undefined;
}

/** The argv and environment of `pulumi <args> -s <stack>`. */
function invocation(stack: string, args: string[], config: boolean): { argv: string[]; env: NodeJS.ProcessEnv } {
  const { env, configFlags } = stackContext(stack);
  if (isMachineStack(stack)) {
    ensureLocalStack(env, stack);
  }
  return { argv: [...args, "-s", stack, ...(config ? configFlags : [])], env };
}

const NOT_INSTALLED = "install it, or run scripts/dev/install-engine.sh";

/** Runs `pulumi <args> -s <stack>`; `inherit` streams its output to the terminal. */
export function pulumi(stack: string, args: string[], options: { inherit?: boolean; config?: boolean } = {}): PulumiRun {
  const { argv, env } = invocation(stack, args, options.config ?? false);
  const result: SpawnSyncReturns<string> = spawnSync("pulumi", argv, {
    cwd: PROJECT_DIR,
    env,
    encoding: "utf8",
    stdio: options.inherit ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`cannot run pulumi: ${result.error.message} (${NOT_INSTALLED})`);
  }
  return { status: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

/** `pulumi` without blocking, so the caller can send load through the front while it runs. */
export function pulumiAsync(stack: string, args: string[], options: { config?: boolean } = {}): Promise<PulumiRun> {
  const { argv, env } = invocation(stack, args, options.config ?? false);
  return new Promise((resolve, reject) => {
    const child = spawn("pulumi", argv, { cwd: PROJECT_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => reject(new Error(`cannot run pulumi: ${e.message} (${NOT_INSTALLED})`)));
    child.on("close", (code) => resolve({ status: code ?? 1, stdout, stderr }));
  });
}
