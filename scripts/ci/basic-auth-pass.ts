/**
 * Prints an env's generated basic-auth password from `pulumi stack export --show-secrets` on
 * stdin, for the checks that run right after `pulumi up` in the same job: a job's `secrets` are
 * read when it starts, before that `pulumi up` may have created the environment secret.
 *   pulumi stack export -s test --show-secrets | tsx scripts/ci/basic-auth-pass.ts test
 * Exit 2 when the export holds no such password (no basic auth on that env).
 */
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { readFileSync } from "node:fs";

interface ExportedResource {
  urn?: string;
  type?: string;
  outputs?: Record<string, unknown>;
}

/** A state value as plain text: secrets exported with --show-secrets carry it JSON-encoded in `plaintext`. */
function plain(value: unknown): string | undefined {
  if (typeof value === "string") {
    return value;
  }
  if (value !== null && typeof value === "object" && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig) {
    const text = (value as { plaintext?: unknown }).plaintext;
    if (typeof text === "string") {
      const decoded: unknown = JSON.parse(text);
      return typeof decoded === "string" ? decoded : undefined;
    }
  }
  return undefined;
}

/** The `result` of the RandomPassword `<env>-basic-auth-password` in an exported stack. */
export function basicAuthPassword(exported: string, env: string): string | undefined {
  const state = JSON.parse(exported) as { deployment?: { resources?: ExportedResource[] } };
  const resource = (state.deployment?.resources ?? []).find(
    (r) => r.type === "random:index/randomPassword:RandomPassword" && r.urn?.endsWith(`::${env}-basic-auth-password`),
  );
  return plain(resource?.outputs?.result);
}

if (require.main === module) {
  const env = process.argv[2] ?? "";
  const password = basicAuthPassword(readFileSync(0, "utf8"), env);
  if (password === undefined || password === "") {
    console.error(`basic-auth-pass: the stack export holds no ${env}-basic-auth-password (is basic auth on for ${env}?)`);
    process.exit(2);
  }
  process.stdout.write(password);
}
