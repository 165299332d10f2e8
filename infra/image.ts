import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ConfigValueError, showValue } from "./errors";
import { DIGEST, DigestSource, imageDigest, imageRegistry, imageRepository } from "./image-ref";
import { validateFor } from "./validate-for";
import { ImageTag } from "./tag";

export type { DigestSource };
export { imageDigest, imageRegistry, imageRepository };

/** `registry/repository:tag`. */
export function imageReference(registry: string, repository: string, tag: string): string {
  return `${registry}/${repository}:${tag}`;
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** Plain HTTP is only allowed for a registry on this machine's loopback. */
export function registryBaseUrl(registry: string): string {
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$/.test(registry);
  return `${loopback ? "http" : "https"}://${registry}`;
}

/**
 * A registry lookup that failed for a reason other than the value itself (the registry is down,
 * slow, or not a registry). Its message names the key, the registry, the image and what to check.
 */
export class RegistryLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RegistryLookupError";
  }
}

/** What the user can always do when the registry cannot be asked. */
const PIN_HINT = "or pin the digest with imageDigest";

/** One request to the registry; a timeout or a network failure becomes a RegistryLookupError. */
async function registryRequest(registry: string, ref: string, url: string | URL, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    // fetch fails with a DOMException TimeoutError, or a TypeError whose cause holds the system error.
    const name = (err as Error).name;
    const code = ((err as { cause?: { code?: unknown } }).cause?.code as string | undefined) ?? (err as Error).message;
    const what =
      name === "TimeoutError" || name === "AbortError" ? `did not answer within ${timeoutMs / 1000} s` : `could not be reached (${code})`;
    throw new RegistryLookupError(
      `imageRegistry: ${showValue(registry, false)} ${what} when asked for ${ref}; check that the registry is up and that ` +
        `this machine reaches ${registryBaseUrl(registry)}, ${PIN_HINT}`,
    );
  }
}

/** The refusal for an answer without a digest: a missing tag, a refused repository, or a broken registry. */
function lookupFailure(registry: string, repository: string, tag: string, status: number): Error {
  const ref = imageReference(registry, repository, tag);
  if (status === 404) {
    return new ConfigValueError(
      "imageTag",
      showValue(tag, false),
      `use a tag that ${registry}/${repository} has: the registry has no ${ref} (404); push the image first, or check imageRepository`,
    );
  }
  if (status === 401 || status === 403) {
    return new ConfigValueError(
      "imageRepository",
      showValue(repository, false),
      `use a repository that ${registry} lets anyone pull: it refused ${ref} (${status}); check the name, ${PIN_HINT} for a private image`,
    );
  }
  return new RegistryLookupError(
    `imageRegistry: ${showValue(registry, false)} answered ${status} without a digest when asked for ${ref}; ` +
      `check that it is a Docker registry (Registry HTTP API v2) and try again, ${PIN_HINT}`,
  );
}

/**
 * Reads a tag's digest through the Registry HTTP API (HEAD on the manifest), taking an anonymous
 * bearer token when the registry asks for one (GHCR does for public images). Every failure is a
 * ConfigValueError (the tag or repository is not there) or a RegistryLookupError (the registry
 * could not be asked), each a one-line message.
 */
export async function resolveRegistryDigest(registry: string, repository: string, tag: string, timeoutMs = 10_000): Promise<string> {
  const ref = imageReference(registry, repository, tag);
  const url = `${registryBaseUrl(registry)}/v2/${repository}/manifests/${tag}`;
  const head = (authorization?: string) =>
    registryRequest(
      registry,
      ref,
      url,
      { method: "HEAD", headers: { Accept: MANIFEST_TYPES, ...(authorization ? { Authorization: authorization } : {}) } },
      timeoutMs,
    );
  let res = await head();
  const challenge = res.headers.get("www-authenticate");
  if (res.status === 401 && challenge?.startsWith("Bearer ")) {
    res = await head(`Bearer ${await anonymousToken(registry, ref, challenge, repository, timeoutMs)}`);
  }
  const digest = res.headers.get("docker-content-digest");
  if (!res.ok || digest === null || !DIGEST.test(digest)) {
    throw lookupFailure(registry, repository, tag, res.status);
  }
  return digest;
}

async function anonymousToken(registry: string, ref: string, challenge: string, repository: string, timeoutMs: number): Promise<string> {
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const refused = (why: string) =>
    new RegistryLookupError(
      `imageRegistry: ${showValue(registry, false)} gave no anonymous pull token for ${ref} (${why}); ` +
        `check imageRegistry and imageRepository, ${PIN_HINT} for a private image`,
    );
  let realm: URL;
  try {
    realm = new URL(params.realm ?? "");
  } catch {
    throw refused("its challenge names no token URL");
  }
  realm.searchParams.set("service", params.service ?? "");
  realm.searchParams.set("scope", params.scope ?? `repository:${repository}:pull`);
  const res = await registryRequest(registry, ref, realm, {}, timeoutMs);
  const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!res.ok || !token) {
    throw refused(`${res.status}`);
  }
  return token;
}

export interface ImageArgs {
  /** Registry host, e.g. `ghcr.io` or `127.0.0.1:5000` (validated by loadStackConfig, as are the next two). */
  registry: string;
  /** Repository path, e.g. `vasiliy-ivanov/deep-calm`. */
  repository: string;
  /** The tag to deploy, parsed (`parseImageTag`). */
  tag: ImageTag;
  /** How the expected digest is found: `docker` (@pulumi/docker), `registry` (HTTP API) or `config`. */
  digestSource: DigestSource;
  /** The digest to pin when `digestSource` is `config`: imageDigest as loadStackConfig validated it, or preflight's. */
  digest?: string;
}

/**
 * The stack's release image: its GHCR (or local registry) reference and the sha256 digest it is
 * pinned to before anything runs on a host. The host runs `repository@digest` (docker checks the
 * content it fetches against the digest), so a tag that moved under us cannot ship something else.
 */
export class Image extends pulumi.ComponentResource {
  public readonly ref: pulumi.Output<string>;
  public readonly digest: pulumi.Output<string>;

  constructor(name: string, args: ImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("deepcalm:image:Image", name, {}, opts);
    const parts = pulumi.output({ registry: args.registry, repository: args.repository, tag: args.tag });
    this.ref = parts.apply((p) => imageReference(p.registry, p.repository, p.tag.tag));
    this.digest = this.expectedDigest(name, args, parts);
    this.registerOutputs({ ref: this.ref, digest: this.digest });
  }

  private expectedDigest(
    name: string,
    args: ImageArgs,
    parts: pulumi.Output<{ registry: string; repository: string; tag: ImageTag }>,
  ): pulumi.Output<string> {
    switch (args.digestSource) {
      case "config":
        if (args.digest === undefined) {
          throw new Error(`${name}: digestSource "config" needs the digest`);
        }
        return pulumi.output(args.digest);
      case "registry":
        // The program looks the digest up in preflight (stacks/preflight.ts) and passes it as "config": a
        // failure in here would reach the user inside the SDK's "error serializing property" with a trace.
        return parts.apply((p) => resolveRegistryDigest(p.registry, p.repository, p.tag.tag));
      case "docker":
        return docker
          .getRegistryImageOutput({ name: parts.apply((p) => imageReference(p.registry, p.repository, p.tag.tag)) }, { parent: this })
          .sha256Digest.apply((d) => validateFor(this, () => imageDigest(`${name} registry digest`, d)));
    }
  }
}
