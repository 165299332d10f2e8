/**
 * The local target as the local stack reaches it, for the benches and the tests: the stack's own
 * config (the working copy of Pulumi.local.yaml it deploys from, once there is one) read by the
 * program's loader, so they dial as `pulumi up -s local` does (host, pinned key, sshDialTimeout,
 * sshDialAttempts; never a prompt) and find the envs under the stack's hostRoot.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { EnvLayout, envLayout } from "../../infra/layout";
import { SshTarget, sshArgv } from "../../infra/ssh";
import { ConfigReader, loadStackConfig } from "../../stacks/config";
import { declaredValue, loadConfigSchema } from "../../stacks/schema";
import { LOCAL_STACK, PROJECT_DIR } from "./pulumi";

export const LOCAL_SSH_DIR = join(PROJECT_DIR, ".local-target", "ssh");

export interface LocalTarget {
  /** The deploy user on the local target, with the key and known_hosts files the stack names. */
  ssh: SshTarget;
  /** The stack's hostRoot: local-target.sh's nginx includes the sites of the envs under it. */
  root: string;
  /** The local stack's own env. */
  layout: EnvLayout;
}

/** Reads a stack file's keys as the engine hands them to the program: Pulumi.yaml's types and defaults applied. */
function stackFileReader(file: string): ConfigReader {
  const schema = loadConfigSchema();
  const doc = parse(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return (key) => declaredValue(schema[key], doc?.config?.[`deep-calm-deploy:${key}`]);
}

let cached: LocalTarget | undefined;

export function localTarget(): LocalTarget {
  if (cached !== undefined) return cached;
  const file = existsSync(LOCAL_STACK.configFile) ? LOCAL_STACK.configFile : join(PROJECT_DIR, "Pulumi.local.yaml");
  const read = stackFileReader(file);
  const cfg = loadStackConfig("local", read);
  // The scripts hand ssh the files themselves; the program reads them into its connection.
  const path = (key: string): string => {
    const value = read(key);
    if (typeof value !== "string" || value === "") {
      throw new Error(`${key}: the local stack (${file}) names no file; the local target's scripts need it`);
    }
    return resolve(PROJECT_DIR, value);
  };
  const { host, port, user, dialTimeoutSeconds, dialAttempts } = cfg.ssh;
  cached = {
    ssh: {
      host,
      port,
      user,
      dialTimeoutSeconds,
      dialAttempts,
      identityFile: path("sshPrivateKeyPath"),
      knownHostsFile: path("sshKnownHostsFile"),
    },
    root: cfg.release.root,
    layout: envLayout(cfg.release.root, cfg.profile.env),
  };
  return cached;
}

/** ssh arguments for the local target's deploy user, ending with the destination, then `command` when given. */
export function localSshArgs(command?: string): string[] {
  return sshArgv(localTarget().ssh, command);
}
