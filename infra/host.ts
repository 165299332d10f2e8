import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { validateFor } from "./errors";
import { shellJoin } from "./quote";
import { LEGACY_TRIGGERS } from "./release";
import * as v from "./validate";
import { PINNABLE_HOST_KEYS } from "./validate";

export interface HostTargetArgs {
  /** DNS name or IP of the server. */
  host: pulumi.Input<string>;
  /** SSH port. Default 22. */
  port?: pulumi.Input<number>;
  /** The deploy user (member of the docker group). Default `dc`. */
  user?: pulumi.Input<string>;
  /** The deploy user's private key; always a secret. */
  privateKey: pulumi.Input<string>;
  /** The server's public host key (`ssh-ed25519 AAAA…`); the connection fails if it differs. */
  hostKey: pulumi.Input<string>;
  /** Seconds for one dial attempt. Default 10. */
  dialTimeoutSeconds?: pulumi.Input<number>;
  /** Dial attempts before giving up. Default 5. */
  dialAttempts?: pulumi.Input<number>;
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
    const plain = pulumi
      .all([args.host, args.port ?? 22, args.user ?? "dc", args.hostKey, args.dialTimeoutSeconds ?? 10, args.dialAttempts ?? 5])
      .apply(([host, port, user, hostKey, timeout, attempts]) =>
        validateFor(this, () => ({
          host: v.hostName("host", host),
          port: v.port("sshPort", port),
          user: v.unixUser("sshUser", user),
          hostKey: v.hostKey("sshHostKey", hostKey),
          perDialTimeout: v.integerIn("sshDialTimeout", timeout, 1, 300),
          dialErrorLimit: v.integerIn("sshDialAttempts", attempts, 1, 100),
        })),
      );
    const privateKey = pulumi.secret(
      pulumi.output(args.privateKey).apply((k) => validateFor(this, () => v.privateKey("sshPrivateKey", k))),
    );
    this.connection = pulumi.all([plain, privateKey]).apply(([p, key]) => ({ ...p, privateKey: key }));
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

/**
 * The pinned key of `host:port` in a known_hosts file (`[host]:port` unless the port is 22), as
 * `type base64`: ed25519 first, then ecdsa, then any other (which the pin's check refuses, saying
 * why). Hashed entries cannot be matched and are skipped.
 */
export function hostKeyFromKnownHosts(knownHosts: string, host: string, port: number): string | undefined {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const keys: string[] = [];
  for (const line of knownHosts.split("\n")) {
    const [hosts, type, key] = line.trim().split(/\s+/);
    if (hosts !== undefined && !hosts.startsWith("#") && type && key && hosts.split(",").includes(name)) {
      keys.push(`${type} ${key}`);
    }
  }
  const rank = (k: string) => {
    const i = PINNABLE_HOST_KEYS.indexOf(k.split(" ")[0] ?? "");
    return i < 0 ? PINNABLE_HOST_KEYS.length : i;
  };
  return keys.sort((a, b) => rank(a) - rank(b))[0];
}
