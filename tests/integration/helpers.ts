/** Shared helpers for the integration suites: SSH to the local target, dc-release runs, HTTP load. */
import { execFile, spawn, ChildProcess } from "child_process";
import { readFileSync } from "fs";
import * as path from "path";
import { writeFileArgv } from "../../infra/compose";
import { EnvLayout, envLayout } from "../../infra/layout";
import { shellJoin } from "../../infra/quote";
import { deployArgv, ReleaseSettings, settingsArgv } from "../../infra/release";
import { defaultReleaseSettings } from "../../infra/release-options";
import {
  parseDeployLog,
  parseReleaseResult,
  parseResultLine,
  parseStatusReport,
  type DeployLogLine,
  type LoggedResult,
  type ReleaseResult,
  type ResultLine,
  type StatusReport,
} from "../../infra/release-result";
import { renderHtpasswd, renderNetrc, renderNginxSite } from "../../infra/render";
import { localSshArgs, localTarget } from "../../scripts/lib/local-target";
import { httpGet, loadDuring, type HttpAnswer, type LoadReport } from "../../scripts/lib/load";

export const REPO_ROOT = path.resolve(__dirname, "../..");
/** The local stack's hostRoot: the local target's nginx includes the sites of the envs under it. */
export const HOST_ROOT = localTarget().root;
export const REGISTRY = "127.0.0.1:5000";
export const REPOSITORY = `${REGISTRY}/deep-calm`;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv on the host over SSH, every token quoted; optional stdin. */
export function sshRun(argv: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
  return collect(spawn("ssh", localSshArgs(shellJoin(argv))), input, timeoutMs);
}

/** Starts an SSH run and hands back the child (for tests that cut the connection). */
export function sshSpawn(argv: string[]): ChildProcess {
  return spawn("ssh", localSshArgs(shellJoin(argv)));
}

export function collect(child: ChildProcess, input?: string, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out after ${timeoutMs} ms; stderr so far: ${stderr}`));
    }, timeoutMs);
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}

/** Runs a local command (the test runner is root on the same machine: docker inspection). */
export function local(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

/** Digests of the demo images, as scripts/dev/demo-images.sh recorded them. */
export function imageDigests(): Record<string, string> {
  return JSON.parse(readFileSync(path.join(REPO_ROOT, ".local-target/images.json"), "utf8"));
}

/** A dc-release run: its exit code, its result line, its progress. */
export interface Ran<T extends ResultLine> {
  code: number | null;
  json: T;
  stderr: string;
}

/**
 * The one line dc-release printed on stdout, read by the program's own parser: every run in the
 * tests checks the format, field by field.
 */
function ran<T extends ResultLine>(r: RunResult, parse: (stdout: string) => T): Ran<T> {
  const lines = r.stdout.trim().split("\n");
  if (lines.length !== 1 || lines[0] === "") {
    throw new Error(`expected one JSON line on stdout, got ${JSON.stringify(r.stdout)}; stderr: ${r.stderr}`);
  }
  try {
    return { code: r.code, json: parse(r.stdout), stderr: r.stderr };
  } catch (err) {
    throw new Error(`${(err as Error).message}; stderr: ${r.stderr}`);
  }
}

/** The result of a deploy, rollback or remove. */
export function parseResult(r: RunResult): Ran<ReleaseResult> {
  return ran(r, parseReleaseResult);
}

/** Whatever line it printed (a refusal of an unknown action, say). */
export function parseAnyResult(r: RunResult): Ran<ResultLine> {
  return ran(r, parseResultLine);
}

/** One test environment on the host: its env name, blue/green ports and public nginx port. */
export class TestEnv {
  /** Where the env's files are on the host: where the program puts them. */
  readonly layout: EnvLayout;

  constructor(
    readonly name: string,
    readonly ports: [number, number],
    readonly publicPort: number,
    readonly auth?: { user: string; password: string },
  ) {
    this.layout = envLayout(HOST_ROOT, name);
  }

  get dir(): string {
    return this.layout.dir;
  }
  /** The env's nginx front: dc-release's --front-url, and where the tests send their requests. */
  get frontUrl(): string {
    return `http://127.0.0.1:${this.publicPort}`;
  }
  get script(): string {
    return this.layout.script;
  }
  get netrc(): string {
    return this.layout.netrc;
  }
  containerName(port: number): string {
    return `dc-${this.name}-${port}`;
  }

  /** The site conf the Pulumi program renders (plus basic auth when the env has it). */
  siteConf(): string {
    return renderNginxSite({
      env: this.name,
      root: HOST_ROOT,
      listen: `127.0.0.1:${this.publicPort}`,
      serverName: "_",
      basicAuth: this.auth !== undefined,
      ports: this.ports,
    });
  }

  /** Removes the env's containers and directory, then lays out site.conf and the script afresh. */
  async reset(): Promise<void> {
    await local("docker", ["rm", "-f", ...this.ports.map((p) => this.containerName(p))]);
    const setup = await sshRun([
      "bash",
      "-c",
      'set -e; rm -rf "$1"; mkdir -p "$2"; sudo -n /usr/sbin/nginx -t 2>/dev/null && sudo -n /usr/sbin/nginx -s reload',
      "reset",
      this.dir,
      this.layout.nginxDir,
    ]);
    if (setup.code !== 0) throw new Error(`reset of ${this.dir} failed: ${setup.stderr}`);
    await this.put(this.layout.site, this.siteConf());
    await this.put(this.script, readFileSync(path.join(REPO_ROOT, "host/dc-release"), "utf8"));
    if (this.auth) {
      // The program's own renderers: nginx checks the {SSHA} line, curl reads the 0600 netrc.
      await this.put(this.layout.htpasswd, renderHtpasswd(this.auth.user, this.auth.password));
      await this.put(this.netrc, renderNetrc("127.0.0.1", this.auth.user, this.auth.password), "0600");
    }
  }

  /** Leaves nothing behind: containers, the env directory, its nginx site. */
  async teardown(): Promise<void> {
    await local("docker", ["rm", "-f", ...this.ports.map((p) => this.containerName(p))]);
    await sshRun(["bash", "-c", 'rm -rf "$1"; sudo -n /usr/sbin/nginx -t 2>/dev/null && sudo -n /usr/sbin/nginx -s reload', "x", this.dir]);
  }

  async put(file: string, content: string, mode: "0600" | "0644" = "0644"): Promise<void> {
    const r = await sshRun(writeFileArgv(file, mode), content);
    if (r.code !== 0) throw new Error(`upload of ${file} failed: ${r.stderr}`);
  }

  async read(file: string): Promise<string> {
    const r = await sshRun(["cat", file]);
    if (r.code !== 0) throw new Error(`cat ${file} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Where the env's live symlink leads (`port-8191`), i.e. the port nginx routes to; "" if none. */
  async live(): Promise<string> {
    const r = await sshRun(["readlink", this.layout.live]);
    return r.code === 0 ? r.stdout.trim() : "";
  }

  /**
   * What every test run shares: the option table's defaults with the env's ports, front and auth,
   * fast health polling, no migration and no smoke paths, and no bake (each deploy would wait it
   * out; bake.test.ts turns it on).
   */
  settings(): ReleaseSettings {
    return {
      ...defaultReleaseSettings(),
      root: HOST_ROOT,
      ports: this.ports,
      frontUrl: this.frontUrl,
      healthIntervalSeconds: 0.05,
      healthTimeoutSeconds: 1,
      drainSeconds: 0.2,
      bakeSeconds: 0,
      migrateCommand: "",
      smokePaths: [],
      authFile: this.auth ? this.netrc : undefined,
    };
  }

  /** A rollback's arguments: the env and every option it takes, as the program passes them; `extra` overrides them. */
  commonArgs(extra: string[] = []): string[] {
    return mergeOptions(["--env", this.name, ...settingsArgv(this.settings(), "rollback")], extra);
  }

  deployArgs(tag: string, extra: string[] = []): string[] {
    return this.deployImageArgs(`${REPOSITORY}:${tag}`, imageDigests()[tag], extra);
  }

  /** A deploy of any image reference and digest (other repositories, bad digests). */
  deployImageArgs(image: string, digest: string, extra: string[] = []): string[] {
    const [bash = "bash", script = this.script, action = "deploy", ...options] = deployArgv(
      { env: this.name, image, digest },
      this.settings(),
    );
    return [bash, script, action, ...mergeOptions(options, extra)];
  }

  async deploy(tag: string, extra: string[] = []): Promise<Ran<ReleaseResult>> {
    return parseResult(await sshRun(this.deployArgs(tag, extra)));
  }

  async release(action: "rollback" | "remove", extra: string[] = []): Promise<Ran<ReleaseResult>> {
    return parseResult(await sshRun(["bash", this.script, action, ...extra]));
  }

  /** `dc-release status` of the env, which must be able to look. */
  async status(): Promise<Ran<StatusReport>> {
    const argv = ["bash", this.script, "status", "--env", this.name, "--root", HOST_ROOT, "--ports", this.ports.join(",")];
    return ran(await sshRun(argv), parseStatusReport);
  }

  /** GET through the nginx front on a fresh connection. */
  get(pathname: string): Promise<HttpAnswer> {
    return httpGet(`${this.frontUrl}${pathname}`, this.authHeader());
  }

  authHeader(): Record<string, string> {
    if (!this.auth) return {};
    const token = Buffer.from(`${this.auth.user}:${this.auth.password}`).toString("base64");
    return { authorization: `Basic ${token}` };
  }

  async containers(): Promise<string[]> {
    const r = await local("docker", ["ps", "-a", "--format", "{{.Names}}", "--filter", `name=^dc-${this.name}-`]);
    return r.stdout
      .split("\n")
      .filter((s) => s !== "")
      .sort();
  }

  /** The results in the env's deploy.log: every line but those of killed attempts (written by the release that found them). */
  async deployResults(): Promise<LoggedResult[]> {
    return (await this.deployLog()).filter((l): l is LoggedResult => !("foundAt" in l));
  }

  /** Every line of the env's deploy.log, each checked against the format. */
  async deployLog(): Promise<DeployLogLine[]> {
    const r = await sshRun(["bash", "-c", 'cat "$1" 2>/dev/null || true', "log", this.layout.deployLog]);
    return parseDeployLog(r.stdout);
  }
}

/** Option pairs of `extra` replace the same options in `defaults` (--smoke adds up). */
export function mergeOptions(defaults: string[], extra: string[]): string[] {
  const out = [...defaults];
  for (let i = 0; i < extra.length; i += 2) {
    const at = extra[i] === "--smoke" ? -1 : out.indexOf(extra[i]);
    if (at >= 0 && at % 2 === 0) out[at + 1] = extra[i + 1];
    else out.push(extra[i], extra[i + 1]);
  }
  return out;
}

export { httpGet, type HttpAnswer, type LoadReport } from "../../scripts/lib/load";

/** Bounded load: `rps` requests per second for `durationMs`, fresh connection each, every failure counted. */
export function load(url: string, rps: number, durationMs: number, headers: Record<string, string> = {}): Promise<LoadReport> {
  return loadDuring(url, rps, durationMs, durationMs, headers);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Pulls of demo tag `tag` docker recorded between two unix times (seconds), by tag or by its
 * digest (dc-release pulls by digest); the daemon is shared, so filter.
 */
export async function pullEvents(since: number, until: number, tag: string): Promise<string[]> {
  const refs = [`${REPOSITORY}:${tag}`, `${REPOSITORY}@${imageDigests()[tag]}`];
  const r = await local("docker", [
    "events",
    "--since",
    String(since),
    "--until",
    String(until),
    "--filter",
    "type=image",
    "--filter",
    "event=pull",
    "--format",
    "{{.Actor.ID}}",
  ]);
  return r.stdout.split("\n").filter((s) => refs.includes(s));
}
