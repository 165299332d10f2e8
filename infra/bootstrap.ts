/**
 * HostBootstrap: prepares a Debian host over an admin SSH connection (root, or a user with
 * passwordless sudo) and generates the deploy user's key, so a new server needs nothing but the
 * admin's key: host/dc-bootstrap installs Docker and nginx when missing, makes nginx include the
 * envs' sites, creates the deploy user in the docker group, writes its sudoers rule and the root
 * directory it owns; the generated key is then authorized for it.
 *
 * The deploy key is a DeployKey (a dynamic resource): ed25519, generated in the program with
 * node:crypto, its private part a secret output, so it lives only in the stack's state,
 * encrypted. A new `rotation` value replaces it: the new key is authorized, every host command
 * moves to it, and at the end of the update the old key's line is removed from authorized_keys.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519KeyFiles, publicKeyWithoutComment } from "./deploy-key";
import { sshConnection } from "./host";
import { shellJoin } from "./quote";

export const BOOTSTRAP_SCRIPT = join(__dirname, "..", "host", "dc-bootstrap");

/** Where the bootstrap writes on the host for a deploy user and a root: one file each. */
export interface BootstrapPaths {
  /** The sudoers rule of the deploy user (sudo skips names with a dot, so none has one). */
  sudoers: string;
  /** The conf.d file that makes nginx include `<root>/*\/nginx/enabled.conf`. */
  nginxInclude: string;
}

export function bootstrapPaths(user: string, root: string): BootstrapPaths {
  return {
    sudoers: `/etc/sudoers.d/deep-calm-${user}`,
    nginxInclude: `/etc/nginx/conf.d/deep-calm-root${root.replace(/\//g, "-")}.conf`,
  };
}

/** Runs argv as root: directly for root, through `sudo -n` (never a password prompt) for another admin. */
export function asRootArgv(argv: string[]): string[] {
  return ["sh", "-c", 'if [ "$(id -u)" -eq 0 ]; then exec "$@"; fi; exec sudo -n "$@"', "as-root", ...argv];
}

/** host/dc-bootstrap with its arguments, as root. The script travels as an argument: it holds no secret. */
export function bootstrapArgv(script: string, user: string, root: string): string[] {
  const paths = bootstrapPaths(user, root);
  return asRootArgv([
    "bash",
    "-c",
    script,
    "dc-bootstrap",
    "--user",
    user,
    "--root",
    root,
    "--sudoers",
    paths.sudoers,
    "--nginx-include",
    paths.nginxInclude,
  ]);
}

/** Adds the key line to the user's authorized_keys unless that key is there already. */
export function authorizeKeyArgv(user: string, publicKey: string): string[] {
  return asRootArgv([
    "sh",
    "-c",
    'f="$(getent passwd "$1" | cut -d: -f6)/.ssh/authorized_keys" && key=$(printf "%s" "$2" | cut -d" " -f1,2) && ' +
      '{ grep -qF -- "$key" "$f" || printf "%s\\n" "$2" >>"$f"; }',
    "authorize-key",
    user,
    publicKey,
  ]);
}

/** Removes every line of the key from the user's authorized_keys; nothing to do when the user or file is gone. */
export function revokeKeyArgv(user: string, publicKey: string): string[] {
  return asRootArgv([
    "sh",
    "-c",
    'home=$(getent passwd "$1" | cut -d: -f6) && f="$home/.ssh/authorized_keys" && [ -n "$home" ] && [ -f "$f" ] || exit 0; ' +
      'grep -vF -- "$2" "$f" >"$f.dc-revoke" || true; cat "$f.dc-revoke" >"$f"; rm -f "$f.dc-revoke"',
    "revoke-key",
    user,
    publicKeyWithoutComment(publicKey),
  ]);
}

export interface DeployKeyInputs {
  /** The key's comment, e.g. deep-calm-deploy/test. */
  comment: string;
  /** Any new value generates a new key (deployKeyRotation). */
  rotation: string;
}

export interface DeployKeyOutputs extends DeployKeyInputs {
  publicKey: string;
  privateKey: string;
}

/** Generates the key; required inside: dynamic provider functions are serialized. */
export function generateDeployKey(inputs: DeployKeyInputs): DeployKeyOutputs {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const crypto = require("node:crypto") as typeof import("node:crypto");
  const { privateKey } = crypto.generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const files = ed25519KeyFiles(
    Buffer.from(String(jwk.d), "base64url"),
    Buffer.from(String(jwk.x), "base64url"),
    inputs.comment,
    crypto.randomBytes(4).readUInt32BE(0),
  );
  return { ...inputs, ...files };
}

const deployKeyProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: DeployKeyInputs) {
    const outs = generateDeployKey(inputs);
    return { id: publicKeyWithoutComment(outs.publicKey).split(" ")[1]?.slice(-16) ?? "key", outs };
  },
  async diff(_id: string, olds: DeployKeyOutputs, news: DeployKeyInputs) {
    const replaces = (["rotation", "comment"] as const).filter((k) => olds[k] !== news[k]);
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
  },
  // Nothing to read back: the key exists only in the state.
  async read(id: string, props: DeployKeyOutputs) {
    return { id, props };
  },
};

/** An ed25519 key generated by the program; `privateKey` is a secret in the state. */
export class DeployKey extends pulumi.dynamic.Resource {
  declare public readonly publicKey: pulumi.Output<string>;
  declare public readonly privateKey: pulumi.Output<string>;

  constructor(name: string, args: DeployKeyInputs, opts?: pulumi.CustomResourceOptions) {
    super(
      deployKeyProvider,
      name,
      { ...args, publicKey: undefined, privateKey: undefined },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "deepcalm",
      "DeployKey",
    );
  }
}

export interface HostBootstrapArgs {
  /** The admin's connection (root or a sudo user); its key is a secret. */
  admin: pulumi.Input<command.types.input.remote.ConnectionArgs>;
  /** The deploy user to create (sshUser). */
  user: string;
  /** The directory holding the envs (hostRoot), owned by the deploy user. */
  root: string;
  /** The generated key's comment, e.g. deep-calm-deploy/test. */
  keyComment: string;
  /** deployKeyRotation: a new value generates a new deploy key. */
  keyRotation: string;
  /** host/dc-bootstrap; defaults to the file. */
  script?: string;
}

/**
 * The host prepared and the deploy key authorized. `deployPrivateKey` is the key the deploy
 * connection uses: a secret that carries both commands as dependencies, so every resource that
 * connects with it waits for the bootstrap.
 */
export class HostBootstrap extends pulumi.ComponentResource {
  public readonly key: DeployKey;
  public readonly prepare: command.remote.Command;
  public readonly authorize: command.remote.Command;
  public readonly deployPrivateKey: pulumi.Output<string>;
  public readonly deployPublicKey: pulumi.Output<string>;

  constructor(name: string, args: HostBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:host:HostBootstrap", name, {}, opts);
    const script = args.script ?? readFileSync(BOOTSTRAP_SCRIPT, "utf8");
    this.key = new DeployKey(`${name}-deploy-key`, { comment: args.keyComment, rotation: args.keyRotation }, { parent: this });
    // No delete: a destroyed stack leaves the host prepared (other stacks may deploy there too).
    // A new script, user or root is an update, which runs the script again.
    this.prepare = new command.remote.Command(
      `${name}-prepare`,
      { connection: args.admin, create: shellJoin(bootstrapArgv(script, args.user, args.root)), addPreviousOutputInEnv: false },
      { parent: this },
    );
    // The key is in both commands: a new key changes `delete`, which replaces this resource, the
    // new key authorized first and the old one revoked when the update ends.
    this.authorize = new command.remote.Command(
      `${name}-authorize-key`,
      {
        connection: args.admin,
        create: this.key.publicKey.apply((k) => shellJoin(authorizeKeyArgv(args.user, k))),
        delete: this.key.publicKey.apply((k) => shellJoin(revokeKeyArgv(args.user, k))),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [this.prepare], replaceOnChanges: ["delete"] },
    );
    this.deployPublicKey = this.key.publicKey;
    this.deployPrivateKey = pulumi.secret(
      pulumi.all([this.key.privateKey, this.prepare.stdout, this.authorize.stdout]).apply(([key]) => key),
    );
    this.registerOutputs({ deployPublicKey: this.deployPublicKey, summary: this.prepare.stdout });
  }
}

/** The host as the stack reaches it, with the admin instead of the deploy user. */
export interface AdminConnectionArgs {
  host: string;
  port: number;
  hostKey: string;
  dialTimeoutSeconds: number;
  dialAttempts: number;
  /** adminSshUser. */
  user: string;
  /** adminSshPrivateKey; kept a secret. */
  privateKey: pulumi.Input<string>;
}

/** The admin's connection: the same pinned host key and dial bounds as the deploy connection (infra/host.ts). */
export function adminConnection(args: AdminConnectionArgs): pulumi.Output<command.types.input.remote.ConnectionArgs> {
  return sshConnection(args);
}
