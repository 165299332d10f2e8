/**
 * The desired image of a stack, as it lives in git (`Pulumi.<stack>.yaml`), for the pipelines:
 *   tsx scripts/ci/image-tag.ts check <tag>                        validate a tag (infra/tag.ts rules)
 *   tsx scripts/ci/image-tag.ts set <stack> <tag> [--digest <d>]   write imageTag (and imageDigest) in place
 *   tsx scripts/ci/image-tag.ts get <stack>                        print the stack file's imageTag
 *   tsx scripts/ci/image-tag.ts unpin <stack>                      drop imageDigest (before a rollback)
 * `set` keeps the file's comments and order, refuses tags the app repo moves (a branch, X.Y, pr-N),
 * and drops a stale imageDigest when no digest is given. Bad input exits 2 with the reason.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, parseDocument } from "yaml";
import { ConfigValueError, showValue } from "../../infra/errors";
import { imageDigest } from "../../infra/image";
import { ImageTag, parseImageTag } from "../../infra/tag";
import { profileFor } from "../../stacks/config";

const PROJECT_DIR = join(__dirname, "..", "..");
const USAGE = "usage: image-tag.ts check <tag> | set <stack> <tag> [--digest sha256:<64 hex>] | get <stack> | unpin <stack>";

/** A tag that names one image for good: sha-…, vX.Y.Z, X.Y.Z or <branch>-<sha7>. */
export function desiredTag(key: string, value: unknown): ImageTag {
  const tag = parseImageTag(key, value);
  if (!tag.immutable) {
    throw new ConfigValueError(
      key,
      showValue(value, false),
      `a ${tag.kind} tag moves with every build, so git would not say what runs; use sha-<sha>, vX.Y.Z or <branch>-<sha7>`,
    );
  }
  return tag;
}

/** The stack file with imageTag set and imageDigest set or removed; comments and key order kept. */
export function withImageTag(stackFile: string, project: string, tag: string, digest?: string): string {
  const doc = parseDocument(stackFile);
  if (doc.errors.length > 0) {
    throw new Error(`the stack file is not valid YAML: ${doc.errors[0]?.message ?? ""}`);
  }
  if (!isMap(doc.get("config"))) {
    doc.set("config", doc.createNode({}));
  }
  doc.setIn(["config", `${project}:imageTag`], tag);
  if (digest === undefined) {
    doc.deleteIn(["config", `${project}:imageDigest`]);
  } else {
    doc.setIn(["config", `${project}:imageDigest`], digest);
  }
  return doc.toString();
}

/** The stack file without imageDigest, so the digest of whatever tag comes next is resolved afresh. */
export function withoutDigest(stackFile: string, project: string): string {
  const doc = parseDocument(stackFile);
  if (!doc.hasIn(["config", `${project}:imageDigest`])) {
    return stackFile;
  }
  doc.deleteIn(["config", `${project}:imageDigest`]);
  return doc.toString();
}

/** The imageTag a stack file holds, or undefined. */
export function imageTagOf(stackFile: string, project: string): string | undefined {
  const value: unknown = parseDocument(stackFile).getIn(["config", `${project}:imageTag`]);
  return typeof value === "string" ? value : undefined;
}

function projectName(): string {
  const name: unknown = parseDocument(readFileSync(join(PROJECT_DIR, "Pulumi.yaml"), "utf8")).get("name");
  if (typeof name !== "string") {
    throw new Error("Pulumi.yaml has no project name");
  }
  return name;
}

function stackFile(stack: string): string {
  profileFor(stack);
  return join(PROJECT_DIR, `Pulumi.${stack}.yaml`);
}

export function run(argv: string[]): string {
  const [command, ...rest] = argv;
  if (command === "check" && rest.length === 1) {
    return parseImageTag("tag", rest[0]).tag;
  }
  if (command === "get" && rest.length === 1) {
    const tag = imageTagOf(readFileSync(stackFile(rest[0] ?? ""), "utf8"), projectName());
    return parseImageTag("imageTag", tag).tag;
  }
  if (command === "unpin" && rest.length === 1) {
    const path = stackFile(rest[0] ?? "");
    const before = readFileSync(path, "utf8");
    const after = withoutDigest(before, projectName());
    if (after !== before) {
      writeFileSync(path, after);
    }
    return after === before ? `Pulumi.${rest[0]}.yaml pins no digest` : `Pulumi.${rest[0]}.yaml no longer pins a digest`;
  }
  if (command === "set" && (rest.length === 2 || (rest.length === 4 && rest[2] === "--digest"))) {
    const [stack = "", value] = rest;
    const path = stackFile(stack);
    const tag = desiredTag("tag", value).tag;
    const digest = rest[3] === undefined ? undefined : imageDigest("digest", rest[3]);
    const before = readFileSync(path, "utf8");
    const after = withImageTag(before, projectName(), tag, digest);
    if (after !== before) {
      writeFileSync(path, after);
    }
    return after === before ? `Pulumi.${stack}.yaml already wants ${tag}` : `Pulumi.${stack}.yaml now wants ${tag}`;
  }
  throw new Error(USAGE);
}

if (require.main === module) {
  try {
    console.log(run(process.argv.slice(2)));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  }
}
