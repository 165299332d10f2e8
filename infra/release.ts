import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { envLayout } from "./layout";
import { shellJoin, withFileDigest } from "./quote";
import { optionArgv, type ReleaseSettings } from "./release-options";
import { parseReleaseResult, type ReleaseResult } from "./release-result";
import { sha256 } from "./render";

/** How a release is gated and switched on the host: one dc-release option per field, in ./release-options. */
export type { ReleaseSettings } from "./release-options";

export interface ReleaseTarget {
  env: string;
  /** `registry/repository:tag`. */
  image: string;
  /** Expected `sha256:…` digest; the host refuses anything else. */
  digest: string;
}

/**
 * Every option `action` takes, from the option table (./release-options), each one always: the
 * host's own defaults never decide a release the stack configured.
 */
export function settingsArgv(s: ReleaseSettings, action: "deploy" | "rollback" | "check" = "deploy"): string[] {
  return optionArgv(action, s);
}

export function deployArgv(t: ReleaseTarget, s: ReleaseSettings): string[] {
  const target = ["--env", t.env, "--image", t.image, "--digest", t.digest];
  return ["bash", envLayout(s.root, t.env).script, "deploy", ...target, ...settingsArgv(s)];
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
    envLayout(s.root, env).script,
    "remove",
    "--env",
    env,
    "--root",
    s.root,
  ];
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
  return shellJoin(withFileDigest(envLayout(settings.root, target.env).script, sha256(procedure), deployArgv(target, settings)));
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
    // Checked field by field: a line this program cannot read fails the up with the field that does
    // not fit, instead of exporting it. The host copy is this program's (its digest is in the command).
    this.result = this.command.stdout.apply(parseReleaseResult);
    this.registerOutputs({ result: this.result });
  }
}
