/**
 * The stack side of `npm run status` (scripts/ops/status.ts): the stack's config read by the
 * program's own loader (connection, pinned host key, deploy key, release settings, front), the
 * host's status command, the one SSH call, and the expectation from the stack's outputs. The key
 * and the pinned host key go to 0600 files in a private temp directory for ssh, never on a command
 * line. This module loads the Pulumi SDK (through the config loader): the command imports it only
 * once its reads of the stack are under way.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { envLayout } from "../../infra/layout";
import { shellJoin } from "../../infra/quote";
import { optionArgv, ReleaseSettings } from "../../infra/release-options";
import { parseStatusReport, releaseResultFrom, type StatusReport } from "../../infra/release-result";
import { dialSeconds, knownHostsLine, sshArgv, SshTarget } from "../../infra/ssh";
import { loadPrivateKey, loadStackConfig, profileFor, StackConfig } from "../../stacks/config";
import { declaredValue, loadConfigSchema } from "../../stacks/schema";
import { hostStatus, HostStatus, StackExpectation, tagOf } from "./status-report";

const PROJECT = "deep-calm-deploy";
const USAGE = "usage: npm run status -- <stack> [--json]";

export function parseArgs(argv: readonly string[]): { stack: string; json: boolean } {
  const [stack, ...rest] = argv;
  if (stack === undefined || stack.startsWith("-")) {
    throw new Error(USAGE);
  }
  profileFor(stack);
  const unknown = rest.filter((a) => a !== "--json");
  if (unknown.length > 0) {
    throw new Error(`unexpected arguments: ${unknown.join(" ")}; ${USAGE}`);
  }
  return { stack, json: rest.includes("--json") };
}

/** One host as status dials it: the stack's connection, the key and the pinned host key. */
export interface StatusHost {
  host: string;
  port: number;
  user: string;
  hostKey: string;
  privateKey: string;
  dialTimeoutSeconds: number;
  dialAttempts: number;
}

/** The status command line on the host: the env, every option status takes, with the env's front. */
export function statusArgv(env: string, settings: ReleaseSettings): string[] {
  return ["bash", envLayout(settings.root, env).script, "status", "--env", env, ...optionArgv("status", settings)];
}

/** The release settings status needs: the stack's, and the netrc the env's front needs (basic auth). */
export function statusSettings(cfg: StackConfig): ReleaseSettings {
  return { ...cfg.release, authFile: cfg.profile.basicAuth ? envLayout(cfg.release.root, cfg.profile.env).netrc : undefined };
}

function run(argv: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ssh: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `dc-release status` on one host (one SSH call): the host as ssh names it, and its status line. */
export async function readStatus(target: SshTarget, command: string[]): Promise<{ where: string; status: StatusReport }> {
  const where = `${target.user}@${target.host}:${target.port}`;
  // The dials' own bound, then 20 s for the status itself (its probes are bounded by --health-timeout).
  const result = await run(sshArgv(target, shellJoin(command)), (dialSeconds(target) + 20) * 1000);
  if (!result.stdout.includes("{")) {
    const said = result.stderr.trim().split("\n").slice(-3).join(" | ");
    // bash's own exit when the script is not there: the env's directory is gone, or was never made.
    const missing =
      result.code === 127 && said.includes(command[1] ?? "dc-release")
        ? `; the env has no ${command[1]} on the host: never deployed, or destroyed (pulumi up deploys it)`
        : "";
    throw new Error(`status of ${where} failed (ssh exit ${result.code ?? "killed"}): ${said || "no output"}${missing}`);
  }
  try {
    return { where, status: parseStatusReport(result.stdout) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // A dc-release uploaded before status took the front: the next `pulumi up` uploads this one.
    const hint = /not an option of dc-release status/.test(message)
      ? "; the host's dc-release is older than this command: run pulumi up"
      : "";
    throw new Error(`status of ${where}: ${message}${hint}`);
  }
}

/** One host's status reported against the expectation. */
export async function checkHost(target: SshTarget, command: string[], expected: StackExpectation): Promise<HostStatus> {
  const { where, status } = await readStatus(target, command);
  return hostStatus(where, status, expected);
}

/** `fn` with an ssh target for the host: the key and the pinned host key in 0600 files of a private temp directory. */
export async function withSshTarget<T>(host: StatusHost, fn: (target: SshTarget) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "dc-status-"));
  try {
    const target: SshTarget = {
      host: host.host,
      port: host.port,
      user: host.user,
      dialTimeoutSeconds: host.dialTimeoutSeconds,
      dialAttempts: host.dialAttempts,
      identityFile: join(dir, "key"),
      knownHostsFile: join(dir, "known_hosts"),
    };
    writeFileSync(target.identityFile, host.privateKey.endsWith("\n") ? host.privateKey : `${host.privateKey}\n`, { mode: 0o600 });
    writeFileSync(target.knownHostsFile, knownHostsLine(host.host, host.port, host.hostKey), { mode: 0o600 });
    return await fn(target);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type ConfigJson = Record<string, { value?: unknown; objectValue?: unknown; secret?: boolean } | undefined>;
export type OutputsJson = Record<string, unknown>;

/** What the stack expects: the config's imageTag, the outputs of its last `pulumi up`. */
export function expectationFrom(stack: string, configTag: string, outputs: OutputsJson): StackExpectation {
  const env = profileFor(stack).env;
  const image = typeof outputs.image === "string" ? outputs.image : "";
  let digest = typeof outputs.digest === "string" ? outputs.digest : "";
  let tag = tagOf(image);
  if (outputs.release !== undefined && outputs.release !== null) {
    try {
      const release = releaseResultFrom(typeof outputs.release === "string" ? JSON.parse(outputs.release) : outputs.release);
      tag ||= release.tag ?? "";
      digest ||= release.digest ?? "";
    } catch {
      // An output left by an older program: the image and digest outputs still say what was deployed.
    }
  }
  return { stack, env, configTag, ...(digest === "" ? {} : { deployed: { image, tag, digest } }) };
}

/** `pulumi config --json --show-secrets` as the program reads it: each entry, and typed values with Pulumi.yaml's defaults. */
export function configEntries(configJson: string): {
  entry: (key: string) => { value?: unknown; objectValue?: unknown; secret?: boolean } | undefined;
  read: (key: string) => unknown;
} {
  const entries = JSON.parse(configJson) as ConfigJson;
  const schema = loadConfigSchema();
  const entry = (key: string) => entries[`${PROJECT}:${key}`];
  return { entry, read: (key: string) => declaredValue(schema[key], entry(key)?.objectValue ?? entry(key)?.value) };
}

/** The stack's config: the connection and its key, the release settings, the config's imageTag. */
export function stackFromConfig(stack: string, configJson: string): { cfg: StackConfig; host: StatusHost } {
  const { entry, read } = configEntries(configJson);
  const cfg = loadStackConfig(stack, read);
  const inline = entry("sshPrivateKey");
  const privateKey = loadPrivateKey(read, inline?.value as string | undefined, inline?.secret === true);
  return { cfg, host: { ...cfg.ssh, privateKey } };
}
