/**
 * A throwaway Pulumi project around one fixture program (tests/fixtures/<name>), for e2e tests
 * that drive the real engine without touching the project's own stacks: its own directory,
 * file backend and passphrase, and one stack.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectPath } from "../../scripts/lib/pulumi";
import { REPO_ROOT } from "../integration/deployment-log-helpers";

export interface Run {
  status: number | null;
  /** stdout and stderr together, as a user sees them. */
  out: string;
  stdout: string;
}

/** No pulumi command of a test runs longer than this; then it gets SIGTERM. */
const RUN_TIMEOUT_MS = 240_000;

export class FixtureProject {
  /** The project directory: the program's files linked in, Pulumi.yaml, the state, the spool. */
  readonly dir: string;

  /**
   * Lays the project out as the real language host expects one: Pulumi.yaml without `main` (the
   * program is the directory, its package.json says what runs), the fixture's files as links (so
   * node loads the program from the repo, where its imports of infra/ resolve), and the repo's
   * node_modules, where the host finds the SDK's runner and the plugins the program needs.
   */
  constructor(
    fixture: string,
    readonly stack: string,
    private readonly passphrase: string,
  ) {
    const program = join(REPO_ROOT, "tests/fixtures", fixture);
    this.dir = mkdtempSync(join(tmpdir(), `${fixture}-`));
    for (const name of readdirSync(program)) symlinkSync(join(program, name), join(this.dir, name));
    symlinkSync(join(REPO_ROOT, "node_modules"), join(this.dir, "node_modules"), "dir");
    writeFileSync(join(this.dir, "Pulumi.yaml"), `name: ${fixture}-probe\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n`);
  }

  /** Starts `pulumi <args> -s <stack>` in the project; `stdin` is piped only when asked for. */
  start(args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin: "pipe" | "ignore" = "ignore"): ChildProcess {
    return spawn("pulumi", [...args, "-s", this.stack], {
      cwd: this.dir,
      env: {
        ...process.env,
        PATH: projectPath(),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_BACKEND_URL: `file://${this.dir}`,
        PULUMI_CONFIG_PASSPHRASE: this.passphrase,
        ...extraEnv,
      },
      stdio: [stdin, "pipe", "pipe"],
    });
  }

  /** What a started command printed and how it ended, bounded by RUN_TIMEOUT_MS. */
  finish(child: ChildProcess): Promise<Run> {
    return new Promise((resolve) => {
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGTERM"), RUN_TIMEOUT_MS);
      child.on("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, out: stdout + stderr });
      });
    });
  }

  /** Runs pulumi to its end; `input` goes to its stdin (a secret piped in, never on argv). */
  run(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
    const child = this.start(args, options.env, options.input === undefined ? "ignore" : "pipe");
    const done = this.finish(child);
    child.stdin?.end(options.input);
    return done;
  }

  /** `pulumi config set-all` of plain values and secrets. */
  configure(values: Record<string, string>, secrets: Record<string, string> = {}): Promise<Run> {
    const args = ["config", "set-all"];
    for (const [k, v] of Object.entries(values)) args.push("--plaintext", `${k}=${v}`);
    for (const [k, v] of Object.entries(secrets)) args.push("--secret", `${k}=${v}`);
    return this.run(args);
  }

  /** Runs pulumi with `input` on stdin (empty when none) and expects it to succeed; its output is the failure message. */
  async ok(args: string[], input = ""): Promise<Run> {
    const run = await this.run(args, { input });
    expect(run.status === 0 ? "" : run.out).toBe("");
    return run;
  }

  /** `pulumi destroy` of the stack, non-interactive. */
  destroy(): Promise<Run> {
    return this.run(["destroy", "--yes", "--skip-preview", "--color", "never"]);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
