import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellJoin, withFileDigest } from "./quote";
import { sha256 } from "./render";

/** How a release is gated and switched on the host; every field maps to one dc-release option. */
export interface ReleaseSettings {
  /** Release root on the host, e.g. /opt/deep-calm. */
  root: string;
  /** The two loopback ports the blue and green releases take turns on. */
  ports: [number, number];
  healthPath: string;
  healthRetries: number;
  healthIntervalSeconds: number;
  healthTimeoutSeconds: number;
  drainSeconds: number;
  /** Seconds the old release stays running after a switch, so a rollback is only an nginx switch. */
  warmSeconds: number;
  /** Seconds after the switch the new release is watched while the old one is warm; 0 = off. */
  bakeSeconds: number;
  /** Release images kept on the host, so rolling back to them needs no pull. */
  keepReleases: number;
  /** Run in a one-off container before the switch; empty for none. */
  migrateCommand: string;
  /** Seconds the migration may run; then its container is removed and nothing switches. */
  migrateTimeoutSeconds: number;
  /** Seconds a stopping release gets between SIGTERM and SIGKILL (`docker stop -t`). */
  stopTimeoutSeconds: number;
  /** The nginx front as seen from the host; the switch is verified through it. */
  publicUrl: string;
  /** Paths checked through nginx after the switch. */
  smokePaths: string[];
  /** netrc for basic auth on smoke checks (0600 on the host), if the env has basic auth. */
  authFile?: string;
  lockTimeoutSeconds: number;
}

export interface ReleaseTarget {
  env: string;
  /** `registry/repository:tag`. */
  image: string;
  /** Expected `sha256:…` digest; the host refuses anything else. */
  digest: string;
}

/** The option tokens shared by deploy and rollback. */
export function settingsArgv(s: ReleaseSettings): string[] {
  const argv = [
    "--root",
    s.root,
    "--ports",
    `${s.ports[0]},${s.ports[1]}`,
    "--health-path",
    s.healthPath,
    "--health-retries",
    String(s.healthRetries),
    "--health-interval",
    String(s.healthIntervalSeconds),
    "--health-timeout",
    String(s.healthTimeoutSeconds),
    "--drain",
    String(s.drainSeconds),
    "--warm",
    String(s.warmSeconds),
    "--bake",
    String(s.bakeSeconds),
    "--keep",
    String(s.keepReleases),
    "--stop-timeout",
    String(s.stopTimeoutSeconds),
    "--public-url",
    s.publicUrl,
    "--lock-timeout",
    String(s.lockTimeoutSeconds),
  ];
  for (const path of s.smokePaths) {
    argv.push("--smoke", path);
  }
  if (s.authFile !== undefined) {
    argv.push("--auth-file", s.authFile);
  }
  return argv;
}

export function scriptPath(s: Pick<ReleaseSettings, "root">, env: string): string {
  return `${s.root}/${env}/dc-release`;
}

/** Deploy only: a rollback runs no migration (the target's schema was migrated when it first shipped). */
function migrationArgv(s: ReleaseSettings): string[] {
  return ["--migrate", s.migrateCommand, "--migrate-timeout", String(s.migrateTimeoutSeconds)];
}

export function deployArgv(t: ReleaseTarget, s: ReleaseSettings): string[] {
  const target = ["--env", t.env, "--image", t.image, "--digest", t.digest];
  return ["bash", scriptPath(s, t.env), "deploy", ...target, ...migrationArgv(s), ...settingsArgv(s)];
}

export function rollbackArgv(env: string, s: ReleaseSettings, toTag?: string): string[] {
  return ["bash", scriptPath(s, env), "rollback", "--env", env, ...(toTag ? ["--to", toTag] : []), ...settingsArgv(s)];
}

/**
 * What destroying the release runs: the env's releases, retained images and nginx site go. When
 * the env's directory is already gone (removed by hand, or by another checkout's destroy), only
 * its containers can be left: they go by their label, and destroy succeeds.
 */
export function removeArgv(env: string, s: Pick<ReleaseSettings, "root">): string[] {
  return [
    "sh",
    "-c",
    'if [ -f "$1" ]; then exec bash "$@"; fi; ' +
      'echo "$1 is gone: removing what is left of env $4, its containers"; ' +
      'docker ps -aq --filter "label=deep-calm.env=$4" | xargs -r docker rm -f',
    "remove-release",
    scriptPath(s, env),
    "remove",
    "--env",
    env,
    "--root",
    s.root,
  ];
}

/** The final JSON line dc-release prints. */
export interface ReleaseResult {
  ok: boolean;
  action: string;
  env: string;
  tag?: string;
  digest?: string;
  port?: number;
  changed?: boolean;
  rolledBack?: boolean;
  reason?: string | null;
  durationMs?: number;
  previous?: { tag?: string; digest?: string } | null;
  [key: string]: unknown;
}

/** Takes the last line of stdout that parses as a JSON object. */
export function parseReleaseResult(stdout: string): ReleaseResult {
  const lines = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("{"));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const value: unknown = JSON.parse(lines[i] ?? "");
      if (value !== null && typeof value === "object" && "ok" in value) {
        return value as ReleaseResult;
      }
    } catch {
      continue;
    }
  }
  throw new Error(`dc-release printed no JSON result; its output ended with: ${stdout.slice(-300)}`);
}

export interface ReleaseArgs {
  /** SSH connection of the host (from HostTarget). */
  connection: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** Environment name. */
  env: string;
  /** Image reference with tag. */
  image: pulumi.Input<string>;
  /** Expected digest of the image. */
  digest: pulumi.Input<string>;
  /** Gate and switch settings. */
  settings: ReleaseSettings;
  /** The content of host/dc-release: a new procedure re-runs the release. */
  procedure: string;
  /** Hooks that record and announce every attempt (infra/deployment-log `recordingHooks`); default none. */
  hooks?: pulumi.ResourceHookBinding;
}

/**
 * Stacks deployed by earlier versions hold `triggers` in their state; dropping them from the inputs
 * would be a replace, so they are ignored and the first up after an upgrade stays an update.
 */
export const LEGACY_TRIGGERS = "triggers";

/**
 * The deploy command line: dc-release after a check that the host's copy is the procedure this
 * stack uploaded. Image, digest, procedure digest and every setting are in it, so a change of any
 * of them is an in-place update that runs it again.
 */
export function releaseCommand(target: ReleaseTarget, settings: ReleaseSettings, procedure: string): string {
  return shellJoin(withFileDigest(scriptPath(settings, target.env), sha256(procedure), deployArgv(target, settings)));
}

/**
 * The app release on the host: runs dc-release (lock, pull by digest, migrate, blue/green start,
 * health gate, nginx switch, drain; auto-rollback on failure).
 *
 * Under the real command provider a change of `triggers` is a replace (the SDK adds
 * `replaceOnChanges: ["triggers[*]"]`), and a replace runs `delete` = `dc-release remove`, which
 * takes the env down. So the release has no triggers: a new tag, digest, procedure or setting
 * reaches the host through the command line, an in-place update that runs `update`. It is
 * replaced, removed first, only when its `delete` changes: when the env moves to another directory.
 */
export class Release extends pulumi.ComponentResource {
  public readonly command: command.remote.Command;
  public readonly result: pulumi.Output<ReleaseResult>;

  constructor(name: string, args: ReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:release:Release", name, {}, opts);
    const deploy = pulumi
      .all([args.image, args.digest])
      .apply(([image, digest]) => releaseCommand({ env: args.env, image, digest }, args.settings, args.procedure));
    this.command = new command.remote.Command(
      `${name}-deploy`,
      {
        connection: args.connection,
        create: deploy,
        update: deploy,
        delete: shellJoin(removeArgv(args.env, args.settings)),
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        additionalSecretOutputs: ["stderr"],
        replaceOnChanges: ["delete"],
        // The moved env's old releases go before the new one starts: both take the same ports.
        deleteBeforeReplace: true,
        ignoreChanges: [LEGACY_TRIGGERS],
        ...(args.hooks ? { hooks: args.hooks } : {}),
      },
    );
    this.result = this.command.stdout.apply(parseReleaseResult);
    this.registerOutputs({ result: this.result });
  }
}
