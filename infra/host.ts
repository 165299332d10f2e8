import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellJoin } from "./quote";
import { LEGACY_TRIGGERS } from "./release";

/**
 * The connection as stacks/config.ts validated it (loadStackConfig, loadPrivateKey): HostTarget
 * takes the values as they are, with no defaults of its own (Pulumi.yaml declares them).
 */
export interface HostTargetArgs {
  /** DNS name or IP of the server. */
  host: string;
  port: number;
  /** The deploy user (member of the docker group). */
  user: string;
  /** The deploy user's private key; always a secret. */
  privateKey: pulumi.Input<string>;
  /** The server's public host key (`ssh-ed25519 AAAA…`); the connection fails if it differs. */
  hostKey: string;
  /** Seconds for one dial attempt. */
  dialTimeoutSeconds: number;
  /** Dial attempts before giving up. */
  dialAttempts: number;
}

/** A command provider connection: the pinned host key, the dial bounds, the key kept a secret. */
export function sshConnection(args: HostTargetArgs): pulumi.Output<command.types.input.remote.ConnectionArgs> {
  const plain = {
    host: args.host,
    port: args.port,
    user: args.user,
    hostKey: args.hostKey,
    perDialTimeout: args.dialTimeoutSeconds,
    dialErrorLimit: args.dialAttempts,
  };
  return pulumi.secret(args.privateKey).apply((privateKey) => ({ ...plain, privateKey }));
}

/** The command that proves the host can run a release: the docker daemon answers the deploy user. */
export function readinessArgv(): string[] {
  return ["docker", "version", "--format", "{{.Server.Version}}"];
}

/**
 * One server reached over SSH with a pinned host key. Everything that runs on the host depends on
 * `ready`, so a wrong key, an unreachable host or a missing docker daemon stops the update before
 * any file is written.
 */
export class HostTarget extends pulumi.ComponentResource {
  public readonly connection: pulumi.Output<command.types.input.remote.ConnectionArgs>;
  public readonly ready: command.remote.Command;
  public readonly dockerVersion: pulumi.Output<string>;

  constructor(name: string, args: HostTargetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:host:HostTarget", name, {}, opts);
    this.connection = sshConnection(args);
    this.ready = new command.remote.Command(
      `${name}-ready`,
      // No triggers: a new host or connection setting is an update, which runs `create` again.
      { connection: this.connection, create: shellJoin(readinessArgv()), addPreviousOutputInEnv: false },
      { parent: this, ignoreChanges: [LEGACY_TRIGGERS] },
    );
    this.dockerVersion = this.ready.stdout.apply((s) => s.trim());
    this.registerOutputs({ dockerVersion: this.dockerVersion });
  }
}
