/**
 * What the host really serves, as a resource that `pulumi refresh` reads again. Command
 * resources cannot be refreshed (pulumi-command has no Read), so a release switched or stopped by
 * hand would stay invisible; this dynamic resource asks the host (`dc-release status` over SSH,
 * pinned host key, the stack's dial bounds) on create, update and refresh, so refresh reports such
 * drift.
 */
import * as pulumi from "@pulumi/pulumi";
import { envLayout } from "./layout";
import { shellJoin } from "./quote";
import { parseStatusReport } from "./release-result";
import { dialSeconds, knownHostsLine, sshArgv, SshTarget } from "./ssh";

/** The host the observation asks, as the stack's connection reaches it; the key is a secret. */
export interface ObservedHost {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey: string;
  /** sshDialTimeout. Absent in a state written before the observation took it: 10 s, as it dialed then. */
  dialTimeoutSeconds?: number;
  /** sshDialAttempts. Absent in a state written before the observation took it: once, as it dialed then. */
  dialAttempts?: number;
}

export interface ObservationInputs {
  host: ObservedHost;
  env: string;
  root: string;
  /** The digest the stack deployed: what the host should serve. */
  expectedDigest: string;
  /** `dc-release status` as one quoted command line (built with shellJoin in the program). */
  statusCommand: string;
}

export interface Observation {
  servingTag: string;
  servingDigest: string;
  healthy: boolean;
  /** True when the host serves what the stack deployed. */
  inSync: boolean;
}

/** Reads the output of `dc-release status` into an observation. */
export function observationFrom(statusOutput: string, expectedDigest: string): Observation {
  const status = parseStatusReport(statusOutput);
  const servingDigest = status.current?.digest ?? "";
  return {
    servingTag: status.current?.tag ?? "",
    servingDigest,
    healthy: status.healthy,
    inSync: servingDigest === expectedDigest && status.healthy,
  };
}

/** The status check's ssh target: the stack's host and dial bounds, its key files in `dir`. */
export function statusTarget(host: ObservedHost, dir: string): SshTarget {
  return {
    host: host.host,
    port: host.port,
    user: host.user,
    dialTimeoutSeconds: host.dialTimeoutSeconds ?? 10,
    dialAttempts: host.dialAttempts ?? 1,
    identityFile: `${dir}/key`,
    knownHostsFile: `${dir}/known_hosts`,
  };
}

/** Runs `dc-release status` on the host with ssh, the key and the pinned host key in 0600 temp files. */
async function observe(inputs: ObservationInputs): Promise<Observation> {
  // Required here: dynamic provider functions are serialized and run in the provider host.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { execFileSync } = require("node:child_process") as typeof import("node:child_process");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require("node:fs") as typeof import("node:fs");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { join } = require("node:path") as typeof import("node:path");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { tmpdir } = require("node:os") as typeof import("node:os");
  const dir = fs.mkdtempSync(join(tmpdir(), "dc-observe-"));
  try {
    const { host, port, privateKey, hostKey } = inputs.host;
    const target = statusTarget(inputs.host, dir);
    fs.writeFileSync(target.identityFile, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    fs.writeFileSync(target.knownHostsFile, knownHostsLine(host, port, hostKey), { mode: 0o600 });
    // The dials' own bound, then 20 s for the status command itself.
    const stdout = execFileSync("ssh", sshArgv(target, inputs.statusCommand), {
      encoding: "utf8",
      timeout: (dialSeconds(target) + 20) * 1000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return observationFrom(stdout, inputs.expectedDigest);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: ObservationInputs) {
    return { id: `${inputs.host.host}:${inputs.host.port}/${inputs.env}`, outs: { ...inputs, ...(await observe(inputs)) } };
  },
  async read(id: string, props: ObservationInputs & Observation) {
    const seen = await observe(props);
    // The inputs become what the host really serves, so refresh shows a release switched by hand
    // as a change of expectedDigest, and the next `pulumi up` shows it until the host matches.
    const { host, env, root, statusCommand } = props;
    const inputs = { host, env, root, statusCommand, expectedDigest: seen.servingDigest };
    return { id, props: { ...props, ...inputs, ...seen }, inputs };
  },
  async diff(_id: string, olds: ObservationInputs, news: ObservationInputs) {
    const changed =
      olds.expectedDigest !== news.expectedDigest ||
      olds.statusCommand !== news.statusCommand ||
      JSON.stringify(olds.host) !== JSON.stringify(news.host);
    return { changes: changed };
  },
  async update(_id: string, _olds: ObservationInputs, news: ObservationInputs) {
    return { outs: { ...news, ...(await observe(news)) } };
  },
};

export interface ObservedReleaseArgs {
  /** SSH target; the key is kept secret in state. */
  host: pulumi.Input<ObservedHost>;
  env: string;
  root: string;
  /** The digest the stack deployed. */
  expectedDigest: pulumi.Input<string>;
}

/** The release the host serves, re-read by `pulumi refresh`. */
export class ObservedRelease extends pulumi.dynamic.Resource {
  public readonly servingTag!: pulumi.Output<string>;
  public readonly servingDigest!: pulumi.Output<string>;
  public readonly healthy!: pulumi.Output<boolean>;
  public readonly inSync!: pulumi.Output<boolean>;

  constructor(name: string, args: ObservedReleaseArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      {
        ...args,
        host: pulumi.secret(args.host),
        statusCommand: shellJoin(["bash", envLayout(args.root, args.env).script, "status", "--env", args.env, "--root", args.root]),
        servingTag: undefined,
        servingDigest: undefined,
        healthy: undefined,
        inSync: undefined,
      },
      { ...opts, additionalSecretOutputs: ["host"] },
      "deepcalm",
      "ObservedRelease",
    );
  }
}
