/**
 * Pulumi mocks for the unit suite: every new resource is recorded (type, name, inputs with secrets
 * still wrapped, and what the SDK sends the engine with it: parent, dependencies, secret outputs,
 * hooks), the one invoke the program may make is answered, and any other call throws.
 */
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { AppSecretsConfig } from "../../infra/app-secrets";
import { ConfigReader, pulumiReader } from "../../stacks/config";
import { DeepCalmEnvironment } from "../../stacks/environment";
import { loadConfigSchema } from "../../stacks/schema";
import { DEPLOY_FIRST, resultWith } from "../fixtures/release-results";
import { allowResourceHooks } from "./hook-mocks";

export const DIGEST_V1 = `sha256:${"1".repeat(64)}`;
export const DIGEST_V2 = `sha256:${"2".repeat(64)}`;
export const SSH_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtopsecretkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n";
export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhostkeyhostkeyhostkeyhostkeyhostkey";
export const RELEASE_SCRIPT = "#!/usr/bin/env bash\necho '{\"ok\":true}'\n";

/** The resource options the engine plans with (the SDK's own included, e.g. @pulumi/command's replaceOnChanges). */
export interface PlanOptions {
  replaceOnChanges: string[];
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
}

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  options: PlanOptions;
}

/** What the SDK's register request tells the engine about a resource besides its inputs, by resource name. */
export interface Registration {
  /** The parent's name; undefined for the stack's own children. */
  parent?: string;
  /** Names of the resources it depends on: `dependsOn` (components expanded to their resources) and its inputs' sources. */
  dependencies: string[];
  additionalSecretOutputs: string[];
}

export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

/** Strings found outside secret wrappers, to prove no secret leaks into plain inputs. */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") {
    out.push(value);
  } else if (Array.isArray(value)) {
    value.forEach((v) => plainStrings(v, out));
  } else if (typeof value === "object" && value !== null && !isSecretValue(value)) {
    Object.values(value).forEach((v) => plainStrings(v, out));
  }
  return out;
}

export const BASE_CONFIG: Record<string, Record<string, unknown>> = {
  dev: {
    imageTag: "sha-0123abc",
    host: "dev.dc.example.com",
    sshHostKey: HOST_KEY,
    publicUrl: "https://dev.dc.example.com",
    telegramChatId: "833478509",
  },
  test: {
    imageTag: "v0.2.0",
    host: "test.dc.example.com",
    sshHostKey: HOST_KEY,
    publicUrl: "https://test.dc.example.com",
    githubReviewerIds: [101],
    smokePaths: ["/healthz", "/version"],
    postgresPort: 5433,
    redisPort: 6380,
    appPorts: [8201, 8202],
    nginxListen: "8081",
  },
  prod: {
    imageTag: "v1.0.0",
    host: "dc.example.com",
    sshHostKey: HOST_KEY,
    publicUrl: "https://dc.example.com",
    githubReviewerIds: [101, 102],
  },
  // A review stack's config is dev's, copied (`pulumi config cp -s dev -d review-42`).
  "review-42": {
    imageTag: "sha-0123abc",
    imageDigest: `sha256:${"d".repeat(64)}`,
    host: "dev.dc.example.com",
    sshHostKey: HOST_KEY,
    publicUrl: "https://dev.dc.example.com",
    serverName: "dev.dc.example.com",
    nginxListen: "127.0.0.1:8001",
    telegramChatId: "833478509",
  },
  local: {
    imageTag: "v1",
    imageRegistry: "127.0.0.1:5000",
    imageRepository: "deep-calm",
    host: "127.0.0.1",
    sshPort: 2222,
    sshUser: "deploy",
    sshHostKey: HOST_KEY,
    publicUrl: "http://127.0.0.1:8080",
    nginxListen: "127.0.0.1:8080",
    imageDigest: DIGEST_V1,
    migrateCommand: "/bin/migrate",
    accessories: false,
  },
};

/** A reader over a plain map with Pulumi.yaml's types and defaults, like the engine gives. */
export function mapReader(values: Record<string, unknown>): ConfigReader {
  const schema = loadConfigSchema();
  const config = {
    get: (key: string) =>
      key in values ? (typeof values[key] === "string" ? (values[key] as string) : JSON.stringify(values[key])) : undefined,
  };
  return pulumiReader(config as unknown as pulumi.Config, schema);
}

export interface Run {
  resources: Recorded[];
  environment: DeepCalmEnvironment;
  calls: string[];
  registrations: Map<string, Registration>;
  /** The hooks the program registered, and each resource's hook names. */
  hooks: ReturnType<typeof allowResourceHooks>;
}

export interface RunOptions {
  config?: Record<string, unknown>;
  sshPrivateKey?: string | undefined;
  sshPrivateKeyIsSecret?: boolean;
  adminSshPrivateKey?: string;
  adminSshPrivateKeyIsSecret?: boolean;
  releaseScript?: string;
  releaseStdout?: string;
  registryDigest?: string;
  appSecrets?: AppSecretsConfig;
}

function waitForRPCs(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> }).waitForRPCs();
}

interface RegisterRequest {
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getAdditionalsecretoutputsList(): string[];
}

interface RecordingMonitor {
  registerResource(req: RegisterRequest, cb: (err: Error | null, resp: unknown) => void): void;
}

const urnName = (urn: string): string => urn.slice(urn.lastIndexOf("::") + 2);

/** Records every register request the SDK sends; call after setMocks (and allowResourceHooks). */
function recordRegistrations(): Map<string, Registration> {
  const registrations = new Map<string, Registration>();
  const monitor = pulumi.runtime.getMonitor() as unknown as RecordingMonitor;
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const parent = req.getParent();
    registrations.set(req.getName(), {
      ...(parent === "" || parent.includes("::pulumi:pulumi:Stack::") ? {} : { parent: urnName(parent) }),
      dependencies: req.getDependenciesList().map(urnName).sort(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    });
    registerResource(req, cb);
  };
  return registrations;
}

/**
 * Everything `name` waits for before the engine creates it: its dependencies and its ancestors'
 * (a child registers only once its parent has, which waits for the parent's dependencies), and
 * all they wait for in turn.
 */
export function waitsFor(run: Run, name: string): string[] {
  const seen = new Set<string>();
  const visit = (n: string): void => {
    for (let at: string | undefined = n; at !== undefined; at = run.registrations.get(at)?.parent) {
      for (const dep of run.registrations.get(at)?.dependencies ?? []) {
        if (!seen.has(dep)) {
          seen.add(dep);
          visit(dep);
        }
      }
    }
  };
  if (!run.registrations.has(name)) {
    throw new Error(`no registration of ${name}`);
  }
  visit(name);
  return [...seen].sort();
}

/** What the latest runStack registered, also when it threw. */
export const lastRegistered: Recorded[] = [];

/** Declares one stack's environment under mocks and returns every resource it registered. */
export async function runStack(stack: string, options: RunOptions = {}): Promise<Run> {
  const resources: Recorded[] = [];
  lastRegistered.length = 0;
  const calls: string[] = [];
  // Transformations see each resource's final options in-process, which mocks are not sent.
  const planOptions = new Map<string, PlanOptions>();
  const recordOptions: pulumi.ResourceTransformation = ({ name, opts }) => {
    const custom = opts as pulumi.CustomResourceOptions;
    planOptions.set(name, {
      replaceOnChanges: opts.replaceOnChanges ?? [],
      ignoreChanges: opts.ignoreChanges ?? [],
      deleteBeforeReplace: custom.deleteBeforeReplace ?? false,
    });
    return undefined;
  };
  const releaseStdout = options.releaseStdout ?? `progress\n${resultWith(DEPLOY_FIRST, { env: stack, tag: "x" })}\n`;
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const recorded = {
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          options: planOptions.get(args.name) ?? { replaceOnChanges: [], ignoreChanges: [], deleteBeforeReplace: false },
        };
        resources.push(recorded);
        lastRegistered.push(recorded);
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command") {
          state.stdout = args.name.endsWith("-release-deploy") ? releaseStdout : "20.10.24\n";
          state.stderr = "";
        }
        if (
          args.type === "random:index/randomPassword:RandomPassword" ||
          args.type === "pulumi-nodejs:dynamic/deepcalm:GeneratedPassword"
        ) {
          state.result = `generated-${args.name}-Zq9`;
        }
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        calls.push(args.token);
        if (args.token === "docker:index/getRegistryImage:getRegistryImage") {
          return { ...args.inputs, sha256Digest: options.registryDigest ?? DIGEST_V1 };
        }
        throw new Error(`unmocked call ${args.token}`);
      },
    },
    "deep-calm-deploy",
    stack,
    true,
  );
  const hooks = allowResourceHooks();
  const registrations = recordRegistrations();
  const config = { ...BASE_CONFIG[stack], ...options.config };
  let environment: DeepCalmEnvironment;
  try {
    environment = new DeepCalmEnvironment(
      stack,
      {
        stack,
        read: mapReader(config),
        sshPrivateKey: "sshPrivateKey" in options ? options.sshPrivateKey : SSH_KEY,
        sshPrivateKeyIsSecret: options.sshPrivateKeyIsSecret ?? true,
        adminSshPrivateKey: options.adminSshPrivateKey,
        adminSshPrivateKeyIsSecret: options.adminSshPrivateKeyIsSecret ?? true,
        releaseScript: options.releaseScript ?? RELEASE_SCRIPT,
        appSecrets: options.appSecrets,
      },
      { transformations: [recordOptions] },
    );
  } finally {
    await waitForRPCs();
  }
  return { resources, environment, calls, registrations, hooks };
}

export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return (output as unknown as { promise: () => Promise<T> }).promise();
}

export function named(run: Run, name: string): Recorded {
  const found = run.resources.find((r) => r.name === name);
  if (!found) {
    throw new Error(`no resource named ${name}; have ${run.resources.map((r) => r.name).join(", ")}`);
  }
  return found;
}
