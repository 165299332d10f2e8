/** The image's config values checked (no Pulumi imports: the operator commands load them through stacks/config). */
import { ConfigValueError, showValue } from "./errors";

const REGISTRY = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$/;
const REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Where the expected digest comes from. */
export type DigestSource = "docker" | "registry" | "config";

export function imageRegistry(key: string, value: unknown): string {
  if (typeof value !== "string" || !REGISTRY.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a registry host such as ghcr.io or 127.0.0.1:5000");
  }
  return value;
}

export function imageRepository(key: string, value: unknown): string {
  if (typeof value !== "string" || value.length > 200 || !REPOSITORY.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a lowercase repository path such as owner/deep-calm");
  }
  return value;
}

export function imageDigest(key: string, value: unknown): string {
  if (typeof value !== "string" || !DIGEST.test(value)) {
    throw new ConfigValueError(key, showValue(value, false), "use a digest of the form sha256:<64 hex>");
  }
  return value;
}
