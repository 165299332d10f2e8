/**
 * Everything that can refuse a stack is checked before the program declares a resource: its
 * config, its deploy key and the image's digest in the registry. An error thrown later, inside an
 * Output's apply, reaches the user only as part of the SDK's `error serializing property …` with
 * a stack trace; a pulumi.RunError from the program's entry prints its message alone.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppSecretsConfig, parseAppSecrets } from "../infra/app-secrets";
import { ConfigValueError, showValue } from "../infra/errors";
import { RegistryLookupError, imageReference, resolveRegistryDigest } from "../infra/image";
import { renderEnvFile } from "../infra/render";
import { ConfigReader, StackConfig, loadAdminKey, loadPrivateKey, loadStackConfig, refusePlainSecrets } from "./config";
import { PROGRAM_VARIABLES } from "./environment";
import { type KubeStackConfig, loadKubeconfig, loadKubeStackConfig } from "./kube-config";
import { kubeAppSecrets } from "./kubernetes";
import { type KubeAccess } from "../infra/kube/access";

export interface PreflightArgs {
  stack: string;
  read: ConfigReader;
  /** sshPrivateKey as config holds it; it only reaches error messages as [secret]. */
  sshPrivateKey: string | undefined;
  sshPrivateKeyIsSecret: boolean;
  /** adminSshPrivateKey as config holds it (bootstrap: true); only ever shown as [secret]. */
  adminSshPrivateKey?: string;
  adminSshPrivateKeyIsSecret?: boolean;
  /** Secret keys set in plain text. */
  plainSecrets: string[];
  /** appSecrets as the engine hands it over; checked here, uploaded as secrets later. */
  appSecrets?: AppSecretsConfig;
}

/** Finds the digest of registry/repository:tag. */
export type DigestLookup = (registry: string, repository: string, tag: string) => Promise<string>;

/** The docker provider's failure to read ref, as a refusal of the tag with the provider's reason. */
export function dockerLookupRefusal(registry: string, repository: string, tag: string, err: unknown): ConfigValueError {
  // The provider's reason is all we get; it says whether the tag is missing or the registry is.
  const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0]?.trim() ?? "";
  return new ConfigValueError(
    "imageTag",
    showValue(tag, false),
    `use a tag that ${registry}/${repository} has: the docker provider could not read ${imageReference(registry, repository, tag)}` +
      `${reason === "" ? "" : ` (${reason})`}; push the image first, check imageRegistry and imageRepository, or pin the digest with imageDigest`,
  );
}

/** The digest as @pulumi/docker reads it (dev, test, prod), asked before any resource exists. */
export const dockerDigest: DigestLookup = async (registry, repository, tag) => {
  try {
    return (await docker.getRegistryImage({ name: imageReference(registry, repository, tag) })).sha256Digest;
  } catch (err) {
    throw dockerLookupRefusal(registry, repository, tag, err);
  }
};

const LOOKUPS: Record<"docker" | "registry", DigestLookup> = { docker: dockerDigest, registry: resolveRegistryDigest };

/** The digest to pin: from config, or looked up the way the stack's digestSource says. */
async function pinnedDigest(cfg: Pick<StackConfig, "image">, lookups: Record<"docker" | "registry", DigestLookup>): Promise<string> {
  const { registry, repository, tag, digest, digestSource } = cfg.image;
  if (digest !== undefined || digestSource === "config") {
    return digest ?? "";
  }
  return lookups[digestSource](registry, repository, tag.tag);
}

/** A refusal becomes a RunError (its message, no stack trace); anything else is a bug and keeps its trace. */
export function asRunError(err: unknown): unknown {
  return err instanceof ConfigValueError || err instanceof RegistryLookupError ? new pulumi.RunError(err.message) : err;
}

/**
 * Validates the stack the way DeepCalmEnvironment will, then pins the image's digest. Resolves
 * to the config and the digest; rejects with a pulumi.RunError holding one clear message.
 */
export async function preflight(
  args: PreflightArgs,
  lookups: Record<"docker" | "registry", DigestLookup> = LOOKUPS,
): Promise<{ cfg: StackConfig; digest: string }> {
  try {
    const cfg = loadStackConfig(args.stack, args.read);
    refusePlainSecrets(args.plainSecrets);
    // With bootstrap the program generates the deploy key; the admin's key is needed instead.
    if (loadAdminKey(args.read, args.adminSshPrivateKey, args.adminSshPrivateKeyIsSecret ?? false) === undefined) {
      loadPrivateKey(args.read, args.sshPrivateKey, args.sshPrivateKeyIsSecret);
    }
    // The .env file is rendered inside an apply later on; its refusals must come out here.
    renderEnvFile(cfg.appEnvironment);
    parseAppSecrets(args.appSecrets, [...Object.keys(cfg.appEnvironment), ...PROGRAM_VARIABLES]);
    return { cfg, digest: await pinnedDigest(cfg, lookups) };
  } catch (err) {
    throw asRunError(err);
  }
}

/** What the program reads of a kubernetes stack before it declares anything. */
export interface KubePreflightArgs extends Pick<PreflightArgs, "stack" | "read" | "plainSecrets" | "appSecrets"> {
  /** kubeconfig as config holds it; it only reaches error messages as [secret]. */
  kubeconfig: string | undefined;
  kubeconfigIsSecret: boolean;
}

/** preflight for `runtime: kubernetes`: the config, the kubeconfig and its credentials, then the digest. */
export async function kubePreflight(
  args: KubePreflightArgs,
  lookups: Record<"docker" | "registry", DigestLookup> = LOOKUPS,
): Promise<{ cfg: KubeStackConfig; kubeconfig: string; access: KubeAccess; digest: string }> {
  try {
    const cfg = loadKubeStackConfig(args.stack, args.read);
    refusePlainSecrets(args.plainSecrets);
    const { kubeconfig, access } = loadKubeconfig(args.read, args.kubeconfig, args.kubeconfigIsSecret);
    kubeAppSecrets(cfg, args.appSecrets);
    return { cfg, kubeconfig, access, digest: await pinnedDigest(cfg, lookups) };
  } catch (err) {
    throw asRunError(err);
  }
}
