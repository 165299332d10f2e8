/**
 * The one typed config module: reads every key declared in Pulumi.yaml, applies the stack
 * profile's defaults and validates each value before any resource is declared.
 */
import type * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { hostKeyFromKnownHosts } from "../infra/known-hosts";
import { ConfigValueError, showValue } from "../infra/errors";
import { DigestSource, imageDigest, imageRegistry, imageRepository } from "../infra/image-ref";
import { envLayout } from "../infra/layout";
import { Maintenance, maintenanceMessage } from "../infra/maintenance";
import { ReleaseSettings } from "../infra/release";
import { releaseSettingsFrom } from "../infra/release-options";
import { ImageTag, parseImageTag } from "../infra/tag";
import * as v from "../infra/validate";
import { PROFILES, REVIEW_STACK_RE, reviewProfile, STACK_NAMES, StackProfile } from "./profiles";
import { reviewReader } from "./review";
import { ConfigSchema, declaredValue, PROJECT_FILE } from "./schema";

/** Reads a raw config value (the parsed YAML value, or undefined when unset). */
export type ConfigReader = (key: string) => unknown;

/** Reads a file named in config (paths are relative to the project directory). */
export type FileReader = (path: string) => string;

export const readProjectFile: FileReader = (path) => readFileSync(resolve(dirname(PROJECT_FILE), path), "utf8");

export function fileContent(key: string, path: string, readFile: FileReader): string {
  try {
    return readFile(path);
  } catch (err) {
    throw new ConfigValueError(key, showValue(path, false), `name a readable file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** sshHostKey, or the key pinned for host:port in sshKnownHostsFile. */
function pinnedHostKey(get: (key: string) => unknown, host: string, port: number, readFile: FileReader): string {
  const explicit = get("sshHostKey") ?? "";
  const file = get("sshKnownHostsFile") ?? "";
  if (explicit !== "" || typeof file !== "string" || file === "") {
    return v.hostKey("sshHostKey", explicit);
  }
  const found = hostKeyFromKnownHosts(fileContent("sshKnownHostsFile", file, readFile), host, port);
  if (found === undefined) {
    throw new ConfigValueError(
      "sshKnownHostsFile",
      showValue(file, false),
      `add the key of ${port === 22 ? host : `[${host}]:${port}`} to it (ssh-keyscan), or set sshHostKey`,
    );
  }
  return v.hostKey("sshHostKey", found);
}

/** A secret key found in plain text in the stack file would sit unencrypted in git. */
export function refusePlainSecrets(keys: string[]): void {
  const [key] = keys;
  if (key !== undefined) {
    throw new ConfigValueError(key, "[secret]", `it is stored in plain text: set it again with \`pulumi config set --secret ${key}\``);
  }
}

/**
 * The deploy key: the secret sshPrivateKey, or the file sshPrivateKeyPath. A key stored in plain
 * text in the stack file is refused, since it would sit unencrypted in git.
 */
export function loadPrivateKey(
  read: ConfigReader,
  inline: string | undefined,
  storedAsSecret: boolean,
  readFile: FileReader = readProjectFile,
): string {
  const path = read("sshPrivateKeyPath") ?? "";
  if (inline !== undefined && inline !== "") {
    if (!storedAsSecret) {
      throw new ConfigValueError(
        "sshPrivateKey",
        "[secret]",
        "it is stored in plain text: set it again with `pulumi config set --secret sshPrivateKey < key`",
      );
    }
    return v.privateKey("sshPrivateKey", inline);
  }
  if (typeof path === "string" && path !== "") {
    return v.privateKey("sshPrivateKeyPath", fileContent("sshPrivateKeyPath", path, readFile), path);
  }
  return v.privateKey("sshPrivateKey", undefined);
}

/**
 * The bootstrap's admin key (adminSshPrivateKey), when the stack bootstraps its host: then the
 * program generates the deploy key, so sshPrivateKey and sshPrivateKeyPath must stay unset. A key
 * stored in plain text in the stack file is refused whether or not the stack bootstraps.
 */
export function loadAdminKey(read: ConfigReader, inline: string | undefined, storedAsSecret: boolean): string | undefined {
  const set = inline !== undefined && inline !== "";
  if (set && !storedAsSecret) {
    throw new ConfigValueError(
      "adminSshPrivateKey",
      "[secret]",
      "it is stored in plain text: set it again with `pulumi config set --secret adminSshPrivateKey < key`",
    );
  }
  if (read("bootstrap") !== true) {
    return undefined;
  }
  if (!set) {
    throw new ConfigValueError(
      "adminSshPrivateKey",
      '""',
      "bootstrap: true connects as the admin (adminSshUser: root, or a user with passwordless sudo): " +
        "`pulumi config set --secret adminSshPrivateKey < ~/.ssh/admin_key`",
    );
  }
  for (const key of ["sshPrivateKey", "sshPrivateKeyPath"]) {
    const value = read(key);
    if (value !== undefined && value !== "") {
      throw new ConfigValueError(
        key,
        key === "sshPrivateKey" ? "[secret]" : showValue(value, false),
        `with bootstrap: true the program generates the deploy key: \`pulumi config rm ${key}\``,
      );
    }
  }
  return v.privateKey("adminSshPrivateKey", inline);
}

export interface StackConfig {
  profile: StackProfile;
  image: { registry: string; repository: string; tag: ImageTag; digest?: string; digestSource: DigestSource };
  ssh: { host: string; port: number; user: string; hostKey: string; dialTimeoutSeconds: number; dialAttempts: number };
  /** bootstrap: true. The host is prepared over the admin connection and the deploy key generated (infra/bootstrap.ts). */
  bootstrap?: { adminUser: string; keyRotation: string };
  release: ReleaseSettings;
  nginx: { listen: string; serverName: string };
  /** Maintenance mode (infra/maintenance.ts): the site answers 503 with the page while on. */
  maintenance: Maintenance;
  publicUrl: string;
  basicAuthUser: string;
  accessories: { postgresPort: number; redisPort: number } | undefined;
  appEnvironment: Record<string, string>;
  telegramChatId: string;
  telegramApiUrl: string;
  deploymentLog: { schema: string; spoolPath: string };
  github: { repository: string; appRepository: string; reviewerIds: number[]; preventSelfReview: boolean; codeOwners: string[] };
  /** Pulumi Deployments push-to-deploy, when enabled (raw values; PushToDeploy validates them). */
  pushToDeploy?: { organization: string; repository: string; branch: string };
}

export function profileFor(stack: string): StackProfile {
  const name = stack.split("/").pop() ?? stack;
  const review = REVIEW_STACK_RE.exec(name);
  if (review !== null) {
    return reviewProfile(Number(review[1]));
  }
  const profile = (PROFILES as Record<string, StackProfile | undefined>)[name];
  if (profile === undefined) {
    throw new ConfigValueError(
      "stack",
      showValue(stack, false),
      `use one of the stacks: ${STACK_NAMES.join(", ")}, or review-<n> for pull request n`,
    );
  }
  return profile;
}

function stringList(key: string, value: unknown, item: (key: string, v: unknown) => string): string[] {
  if (!Array.isArray(value)) {
    throw new ConfigValueError(key, showValue(value, false), 'use a list of strings, e.g. ["A=1"]');
  }
  return value.map((entry, i) => item(`${key}[${i}]`, entry));
}

function numberList(key: string, value: unknown, item: (key: string, v: unknown) => number): number[] {
  if (!Array.isArray(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a list of integers, e.g. [101, 102]");
  }
  return value.map((entry, i) => item(`${key}[${i}]`, entry));
}

export function bool(key: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new ConfigValueError(key, showValue(value, false), "use true or false");
  }
  return value;
}

function listenAddress(key: string, value: unknown): string {
  if (typeof value !== "string" || !/^((\d{1,3}\.){3}\d{1,3}:)?\d{1,5}( ssl)?$/.test(value)) {
    throw new ConfigValueError(
      key,
      showValue(value, false),
      "use an nginx listen value: a port (80) or address:port (127.0.0.1:8080), optionally followed by ' ssl'",
    );
  }
  return value;
}

/** The nginx front as the host itself reaches it (used to verify the switch). */
export function frontUrl(listen: string): string {
  const [address, ssl] = listen.split(" ");
  const hostPort = address?.includes(":") ? address : `127.0.0.1:${address}`;
  return `${ssl === "ssl" ? "https" : "http"}://${hostPort}`;
}

export function postgresSchema(key: string, value: unknown): string {
  if (typeof value !== "string" || !/^([a-z_][a-z0-9_]{0,62})?$/.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a schema name of lowercase letters, digits and _ (empty for public)");
  }
  return value;
}

export function serverName(key: string, value: unknown): string {
  if (typeof value !== "string" || !/^(_|[A-Za-z0-9.-]{1,253})$/.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a DNS name such as dev.dc.example.com, or _");
  }
  return value;
}

function environmentEntries(key: string, value: unknown): Record<string, string> {
  const entries = stringList(key, value, (k, e) => {
    if (typeof e !== "string" || !/^[A-Z_][A-Z0-9_]*=/.test(e)) {
      throw new ConfigValueError(k, showValue(e, false), "use KEY=value with KEY of A-Z, 0-9 and _");
    }
    return e;
  });
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** The image to deploy: registry, repository, tag, and where its digest comes from. Both runtimes read it. */
export function imageSettings(profile: StackProfile, get: (key: string, fallback?: unknown) => unknown): StackConfig["image"] {
  const digestSetting = get("imageDigest", "");
  const digestSource = get("digestSource", "");
  return {
    registry: imageRegistry("imageRegistry", get("imageRegistry")),
    repository: imageRepository("imageRepository", get("imageRepository")),
    tag: parseImageTag("imageTag", get("imageTag", "")),
    digest: digestSetting === "" ? undefined : imageDigest("imageDigest", digestSetting),
    digestSource:
      digestSetting === ""
        ? v.oneOf("digestSource", digestSource === "" ? profile.digestSource : digestSource, ["docker", "registry"])
        : "config",
  };
}

/** The app's extra environment and where releases are recorded and announced. Both runtimes read them. */
export function recordingSettings(
  get: (key: string, fallback?: unknown) => unknown,
): Pick<StackConfig, "appEnvironment" | "telegramChatId" | "telegramApiUrl" | "deploymentLog"> {
  return {
    appEnvironment: environmentEntries("appEnvironment", get("appEnvironment", [])),
    telegramChatId: String(get("telegramChatId", "")),
    telegramApiUrl: v.httpUrl("telegramApiUrl", get("telegramApiUrl")),
    deploymentLog: {
      schema: postgresSchema("deploymentLogSchema", get("deploymentLogSchema", "")),
      spoolPath: String(get("deploymentLogSpool")),
    },
  };
}

/**
 * Validates the whole stack config. `read` returns raw values with Pulumi.yaml defaults applied;
 * secrets are not read here (they stay Outputs, validated where they are used).
 */
export function loadStackConfig(stack: string, read: ConfigReader, readFile: FileReader = readProjectFile): StackConfig {
  const profile = profileFor(stack);
  const reader = profile.pullRequest === undefined ? read : reviewReader(profile.pullRequest, read);
  const get = (key: string, fallback?: unknown) => reader(key) ?? fallback;
  const host = get("host", "");
  const sshPort = v.port("sshPort", get("sshPort"));
  if (host === "") {
    throw new ConfigValueError(
      "host",
      showValue(host, false),
      profile.env === "prod"
        ? "the prod stack is declared but not configured: set host, sshHostKey, sshPrivateKey and publicUrl (README: 'Configuring a stack') before it deploys"
        : "set the server's DNS name or IP: pulumi config set host dc.example.com",
    );
  }
  const nginxListen = listenAddress("nginxListen", get("nginxListen"));
  const reviewerIds = numberList("githubReviewerIds", get("githubReviewerIds", []), (k, e) =>
    v.integerIn(k, e, 1, Number.MAX_SAFE_INTEGER),
  );
  if (profile.requiresReviewers && reviewerIds.length === 0) {
    throw new ConfigValueError(
      "githubReviewerIds",
      "[]",
      `the ${profile.env} environment requires approval: list the GitHub user ids of its reviewers`,
    );
  }
  const accessories = bool("accessories", get("accessories"));
  const pushToDeploy = bool("pushToDeploy", get("pushToDeploy"));
  return {
    profile,
    image: imageSettings(profile, get),
    ssh: {
      host: v.hostName("host", host),
      port: sshPort,
      user: v.unixUser("sshUser", get("sshUser")),
      hostKey: pinnedHostKey(get, host as string, sshPort, readFile),
      dialTimeoutSeconds: v.integerIn("sshDialTimeout", get("sshDialTimeout"), 1, 300),
      dialAttempts: v.integerIn("sshDialAttempts", get("sshDialAttempts"), 1, 100),
    },
    bootstrap: bool("bootstrap", get("bootstrap", false))
      ? { adminUser: v.unixUser("adminSshUser", get("adminSshUser", "root")), keyRotation: String(get("deployKeyRotation", "")) }
      : undefined,
    // The option table's keys, bounds and rules (infra/release-options.ts): the host's own.
    release: releaseSettingsFrom(get, {
      frontUrl: frontUrl(nginxListen),
      authFile: (root) => (profile.basicAuth ? envLayout(root, profile.env).netrc : undefined),
    }),
    nginx: {
      listen: nginxListen,
      serverName: serverName("serverName", get("serverName")),
    },
    maintenance: {
      on: bool("maintenance", get("maintenance", false)),
      message: maintenanceMessage("maintenanceMessage", get("maintenanceMessage", "")),
      retryAfterSeconds: v.integerIn("maintenanceRetryAfter", get("maintenanceRetryAfter", 300), 1, 86400),
    },
    publicUrl: v.httpUrl("publicUrl", get("publicUrl", "")),
    basicAuthUser: v.unixUser("basicAuthUser", get("basicAuthUser")),
    accessories: accessories
      ? { postgresPort: v.port("postgresPort", get("postgresPort")), redisPort: v.port("redisPort", get("redisPort")) }
      : undefined,
    ...recordingSettings(get),
    github: {
      repository: v.githubRepositoryName("githubRepository", get("githubRepository")),
      appRepository: v.githubRepositoryName("githubAppRepository", get("githubAppRepository")),
      reviewerIds,
      preventSelfReview: bool("githubPreventSelfReview", get("githubPreventSelfReview", true)),
      codeOwners: stringList("codeOwners", get("codeOwners", []), (k, e) => {
        if (typeof e !== "string" || !/^@[A-Za-z0-9-]+(\/[A-Za-z0-9_.-]+)?$/.test(e)) {
          throw new ConfigValueError(k, showValue(e, false), "use @user or @org/team");
        }
        return e;
      }),
    },
    pushToDeploy: pushToDeploy
      ? {
          organization: String(get("pushToDeployOrganization", "")),
          repository: String(get("pushToDeployRepository", "")),
          branch: String(get("pushToDeployBranch", "main")),
        }
      : undefined,
  };
}

/**
 * Reads keys from pulumi.Config typed as Pulumi.yaml declares them, with its defaults applied
 * (the engine applies them too; mocks and tests do not).
 */
export function pulumiReader(config: pulumi.Config, schema: ConfigSchema): ConfigReader {
  return (key) => {
    const declared = schema[key];
    if (declared === undefined) {
      throw new Error(`config key ${key} is read but not declared in Pulumi.yaml`);
    }
    return declaredValue(declared, config.get(key));
  };
}
