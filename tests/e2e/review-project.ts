/**
 * Review stacks (`review-<n>`, env pr-<n>) of this project, driven with the real engine against the
 * local target, without touching the project's own stacks or files: a throwaway project directory
 * whose entries link to the repo's (so the program, node_modules and the local target's key files
 * are the repo's own), its own file backend, and stack files of its own. Each review stack's config
 * is the local stack's, copied as `pulumi config cp -s local -d review-<n>` would (the same values,
 * and the same passphrase and salt), plus its own keys: README "Review environments".
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_STACK, PROJECT_DIR, projectPath } from "../../scripts/lib/pulumi";

export interface StackRun {
  status: number;
  out: string;
  ms: number;
}

const RUN_TIMEOUT_MS = 280_000;

export class ReviewProject {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "review-envs-"));
    for (const name of readdirSync(PROJECT_DIR)) {
      // The stack files and the local stack's state stay the repo's; this project has its own.
      if (/^Pulumi\..+\.yaml$/.test(name) || name === ".pulumi-state" || name === ".git") continue;
      symlinkSync(join(PROJECT_DIR, name), join(this.dir, name));
    }
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: projectPath(),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_BACKEND_URL: `file://${this.dir}`,
      PULUMI_CONFIG_PASSPHRASE: LOCAL_STACK.passphrase,
    };
  }

  /** `pulumi <args> -s review-<n>`, bounded; stdout and stderr together. */
  run(pr: number, args: string[]): Promise<StackRun> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn("pulumi", [...args, "-s", `review-${pr}`], { cwd: this.dir, env: this.env(), stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill("SIGTERM"), RUN_TIMEOUT_MS);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ status: code ?? 1, out, ms: Date.now() - started });
      });
    });
  }

  /**
   * Creates stack review-<n> with the local stack's config (its working copy when there is one,
   * which may hold the deployment log's URL, encrypted with the same passphrase) plus `extra`.
   */
  async create(pr: number, extra: Record<string, string> = {}): Promise<void> {
    const source = existsSync(LOCAL_STACK.configFile) ? LOCAL_STACK.configFile : join(PROJECT_DIR, "Pulumi.local.yaml");
    writeFileSync(join(this.dir, `Pulumi.review-${pr}.yaml`), readFileSync(source, "utf8"));
    const init = await this.run(pr, ["stack", "init"]);
    if (init.status !== 0) throw new Error(`stack init review-${pr}: ${init.out}`);
    const values = { digestSource: "registry", ...extra };
    const args = ["config", "set-all"];
    for (const [k, v] of Object.entries(values)) args.push("--plaintext", `${k}=${v}`);
    const set = await this.run(pr, args);
    if (set.status !== 0) throw new Error(`config set-all review-${pr}: ${set.out}`);
  }

  up(pr: number): Promise<StackRun> {
    return this.run(pr, ["up", "--yes", "--skip-preview", "--color", "never"]);
  }

  /** `pulumi destroy`, then the stack is removed, as review.yml does when the PR closes. */
  async destroy(pr: number): Promise<StackRun> {
    const run = await this.run(pr, ["destroy", "--yes", "--skip-preview", "--color", "never"]);
    if (run.status === 0) await this.run(pr, ["stack", "rm", "--yes"]);
    return run;
  }

  output(pr: number, name: string): Promise<StackRun> {
    return this.run(pr, ["stack", "output", name]);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
